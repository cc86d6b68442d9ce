/**
 * Codes and their protection at rest. Pure: randomness and keys come in as arguments.
 * - codes come from `crypto.randomInt` (uniform, leading zeros kept);
 * - only an HMAC-SHA256 digest over requestId, phone and code is stored for checking;
 * - while a request still waits for delivery, the code is kept AES-256-GCM encrypted so a retry can
 *   deliver the same code; the ciphertext is erased once the request is delivered or closed.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

export type RandomInt = (maxExclusive: number) => number;

/** A `length`-digit decimal code; `random` defaults to `crypto.randomInt`. */
export function generateCode(length: number, random: RandomInt = randomInt): string {
  let code = '';
  for (let i = 0; i < length; i += 1) code += String(random(10));
  return code;
}

/** Derives a 32-byte purpose-bound key from a secret (HKDF-SHA256), so one secret serves several uses. */
export function deriveKey(secret: string, purpose: 'code-digest' | 'code-cipher' | 'token'): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'express-otp-kit', purpose, 32));
}

/** Hex HMAC-SHA256 of requestId, phone and code: binds the code to its request and number. */
export function digestCode(key: Buffer, requestId: string, phone: string, code: string): string {
  return createHmac('sha256', key).update(`${requestId}\n${phone}\n${code}`).digest('hex');
}

/** Constant-time comparison of two hex SHA-256 digests; malformed input is simply "not equal". */
export function digestsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  if (left.length !== 32 || right.length !== 32) return false;
  return timingSafeEqual(left, right);
}

/**
 * Checks a code against a stored digest with every accepted key (secret rotation): the work is
 * the same whichever key matches, and nothing short-circuits on the code itself.
 */
export function codeMatches(keys: readonly Buffer[], stored: string, requestId: string, phone: string, candidate: string): boolean {
  let match = false;
  for (const key of keys) {
    if (digestsEqual(digestCode(key, requestId, phone, candidate), stored)) match = true;
  }
  return match;
}

/** AES-GCM's recommended IV length. */
export const IV_BYTES = 12;

/**
 * `v1.<iv>.<tag>.<ciphertext>` (base64url), bound to the request id as additional data. `iv` must
 * be fresh CSPRNG bytes (never reused with the same key); the send path passes them from a pool.
 */
export function encryptCode(key: Buffer, requestId: string, code: string, iv: Buffer = randomBytes(IV_BYTES)): string {
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(requestId));
  const body = Buffer.concat([cipher.update(code, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
}

/** Decrypts with the first key that authenticates; undefined when none does. */
export function decryptCode(keys: readonly Buffer[], requestId: string, sealed: string): string | undefined {
  const [version, iv, tag, body] = sealed.split('.');
  if (version !== 'v1' || iv === undefined || tag === undefined || body === undefined) return undefined;
  for (const key of keys) {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(requestId));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      // wrong key (rotation) or tampered value: try the next key
    }
  }
  return undefined;
}

/** Fills the `_CODE_` placeholder of the seed's custom message (and `_APP_` with the app name). */
export function renderMessage(template: string, code: string, appName: string): string {
  return template.replaceAll('_APP_', appName).replaceAll('_CODE_', code);
}
