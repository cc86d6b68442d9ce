/**
 * Checks a verification token for `requireVerifiedOtp`: signature and expiry (lib/core/token.ts),
 * the purpose the route requires, and single use across processes (the spent record is bound to
 * the token's phone and purpose).
 */
import { verifyToken } from '../core/token.js';
import { OtpError } from '../errors.js';
import type { VerifiedOtp } from '../types.js';
import type { OtpDeps } from './deps.js';

/** Accepted clock difference between app instances for token times. */
const TOKEN_SKEW_SECONDS = 5;

export interface TokenCheckOptions {
  /** The purpose the route requires; a token for another purpose is refused (403). */
  readonly purpose?: string;
  /** Refuse a second use of the same token, in any process. @default true */
  readonly singleUse?: boolean;
}

export async function checkToken(deps: OtpDeps, token: string, opts: TokenCheckOptions = {}): Promise<VerifiedOtp> {
  const { config } = deps;
  const result = await verifyToken(deps.keys.token, token, config.clock(), TOKEN_SKEW_SECONDS);
  if (!result.ok) throw new OtpError(result.reason === 'expired' ? 'OTP_TOKEN_EXPIRED' : 'OTP_TOKEN_INVALID');
  const { claims } = result;
  if (opts.purpose !== undefined && claims.purpose !== opts.purpose) throw new OtpError('OTP_PURPOSE_MISMATCH');
  if ((opts.singleUse ?? true) && !(await deps.store.spendToken(claims.requestId, claims.phone, claims.purpose, config.clock()))) {
    throw new OtpError('OTP_TOKEN_USED');
  }
  return { phone: claims.phone, requestId: claims.requestId, purpose: claims.purpose, verifiedAt: new Date(claims.verifiedAt) };
}
