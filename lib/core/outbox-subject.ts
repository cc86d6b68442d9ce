/**
 * Whose event an outbox row is, without the number in clear (issue 23.4): the row's `phone_key`
 * is an HMAC of the E.164 number under a key derived from the kit's secret (`OTP_SECRET`), so
 * `otp.forget(phone)` finds the number's events, request and lock events alike, while the table
 * holds nothing that names the number to someone without the secret. Every configured secret
 * yields a key (rotation): forget looks under each. Pure.
 */
import { createHmac, hkdfSync } from 'node:crypto';

/** The subject keys of the kit's secrets, current first. */
export function outboxSubjectKeys(secrets: readonly string[]): Buffer[] {
  return secrets.map((secret) => Buffer.from(hkdfSync('sha256', secret, 'express-otp-kit', 'outbox-subject', 32)));
}

/** The `phone_key` of a number under one key: 128 bits as 32 hex characters. */
export function outboxSubject(key: Buffer, e164: string): string {
  return createHmac('sha256', key).update(e164).digest('hex').slice(0, 32);
}
