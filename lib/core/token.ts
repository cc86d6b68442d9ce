/**
 * Verification tokens: compact JWS (HS256 only, never taken from the token), bound to the phone,
 * the request and the purpose, short-lived. Keys come from the secret list so a changed secret can
 * be rotated in: the first secret signs, every listed secret verifies (selected by `kid`).
 */
import { createHash, createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { errors, jwtVerify } from 'jose';
import { deriveKey } from './code.js';

const AUDIENCE = 'express-otp-kit:verified';
const ALGORITHM = 'HS256';

export interface TokenKey {
  readonly kid: string;
  /** Imported once: jose would import a raw key again on every sign and verify. */
  readonly key: KeyObject;
}

export interface TokenKeyring {
  readonly signing: TokenKey;
  readonly byKid: ReadonlyMap<string, TokenKey>;
}

export function tokenKeyring(secrets: readonly string[]): TokenKeyring {
  const keys = secrets.map((secret) => {
    const key = deriveKey(secret, 'token');
    return { kid: createHash('sha256').update(key).digest('base64url').slice(0, 10), key: createSecretKey(key) };
  });
  const signing = keys[0];
  if (signing === undefined) throw new Error('tokenKeyring needs at least one secret');
  return { signing, byKid: new Map(keys.map((k) => [k.kid, k])) };
}

export interface TokenClaims {
  readonly phone: string;
  readonly requestId: string;
  readonly purpose: string;
  /** Epoch milliseconds of the verification. */
  readonly verifiedAt: number;
}

const b64url = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * Signs with one HMAC-SHA256 over the compact JWS input. Signing a fixed header needs no parsing,
 * so it is done directly (jose's async signing was ~15 % of a verify's CPU); everything that reads
 * a token (algorithm allow-list, claims, expiry) stays with jose in `verifyToken`.
 */
export function signToken(ring: TokenKeyring, claims: TokenClaims, nowMs: number, ttlSeconds: number): { token: string; expiresAt: Date } {
  const iat = Math.floor(nowMs / 1000);
  const exp = iat + ttlSeconds;
  const header = b64url({ alg: ALGORITHM, kid: ring.signing.kid, typ: 'otp+jwt' });
  const payload = b64url({ pur: claims.purpose, vat: claims.verifiedAt, sub: claims.phone, jti: claims.requestId, aud: AUDIENCE, iat, exp });
  const signature = createHmac('sha256', ring.signing.key).update(`${header}.${payload}`).digest('base64url');
  return { token: `${header}.${payload}.${signature}`, expiresAt: new Date(exp * 1000) };
}

export type TokenCheck = { readonly ok: true; readonly claims: TokenClaims } | { readonly ok: false; readonly reason: 'invalid' | 'expired' };

/** Verifies signature (HS256 only), audience, expiry (with bounded skew) and the claim shapes. */
export async function verifyToken(ring: TokenKeyring, token: string, nowMs: number, skewSeconds: number): Promise<TokenCheck> {
  if (token.length > 2048) return { ok: false, reason: 'invalid' };
  try {
    const { payload } = await jwtVerify(
      token,
      (header) => {
        const found = typeof header.kid === 'string' ? ring.byKid.get(header.kid) : undefined;
        if (found === undefined) throw new errors.JWSSignatureVerificationFailed('unknown key id');
        return found.key;
      },
      { algorithms: [ALGORITHM], audience: AUDIENCE, currentDate: new Date(nowMs), clockTolerance: skewSeconds, requiredClaims: ['sub', 'jti', 'exp', 'iat'] },
    );
    if (typeof payload.iat === 'number' && payload.iat * 1000 > nowMs + skewSeconds * 1000) return { ok: false, reason: 'invalid' };
    const { sub, jti, pur, vat } = payload;
    if (typeof sub !== 'string' || typeof jti !== 'string' || typeof pur !== 'string' || typeof vat !== 'number') {
      return { ok: false, reason: 'invalid' };
    }
    return { ok: true, claims: { phone: sub, requestId: jti, purpose: pur, verifiedAt: vat } };
  } catch (error) {
    return { ok: false, reason: error instanceof errors.JWTExpired ? 'expired' : 'invalid' };
  }
}
