/** The answers a code check ends with: verified (with its token), wrong, or refused as the row explains. */
import { refusal } from '../core/policy.js';
import { signToken } from '../core/token.js';
import type { RequestRow } from '../storage/request-row.js';
import type { VerifyResult } from '../types.js';
import type { OtpDeps, Outcome } from './deps.js';

/** The answer to a consumed request: a signed, single-use verification token. */
export function verified(deps: OtpDeps, row: RequestRow, e164: string): Outcome<VerifyResult> {
  const verifiedAt = deps.config.clock();
  const { token, expiresAt } = signToken(deps.keys.token, { phone: e164, requestId: row.requestId, purpose: row.purpose, verifiedAt }, verifiedAt, deps.config.tokenTtlSeconds);
  deps.events.emit('verified', { requestId: row.requestId, provider: row.provider });
  return { result: { requestValid: true, codeValid: true, requestId: row.requestId, token, tokenExpiresAt: expiresAt } };
}

/** A counted wrong guess. */
export function wrongCode(deps: OtpDeps, row: RequestRow): Outcome<VerifyResult> {
  deps.events.emit('verify-failed', { requestId: row.requestId, reason: 'OTP_INVALID' });
  return { result: { requestValid: true, codeValid: false, reason: 'OTP_INVALID', requestId: row.requestId, attemptsLeft: Math.max(0, deps.config.maxAttempts - row.attempts - 1) } };
}

/**
 * A conditional UPDATE changed nothing: read the row again and explain. Still live means the
 * number's failure budget was spent by guesses in flight: that is the refusal (429).
 */
export async function explainRefusal(deps: OtpDeps, row: RequestRow, checkBudget: boolean): Promise<Outcome<VerifyResult>> {
  const fresh = await deps.store.byRequestId(row.requestId);
  const reason = refusal(fresh, deps.config.clock(), deps.config.maxAttempts);
  if (reason === undefined && checkBudget) {
    const spent = await deps.budget.spent(row.phone);
    if (spent !== undefined) return { refusal: spent };
  }
  deps.events.emit('verify-failed', { requestId: row.requestId, reason: reason ?? 'OTP_NOT_FOUND' });
  return { result: { requestValid: false, codeValid: false, reason: reason ?? 'OTP_NOT_FOUND', requestId: row.requestId } };
}
