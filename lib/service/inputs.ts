/** Checks of what callers pass to send and verify; each failure names its field (400 VALIDATION_FAILED). */
import { ANY_CODE_PATTERN, codePattern, codeRule, DEFAULT_PURPOSE, PURPOSE_PATTERN, PURPOSE_RULE } from '../core/patterns.js';
import { CHANNELS, isChannel } from '../core/channels.js';
import { LOCALE_RULE, normalizeLocale, parseAcceptLanguage } from '../core/locale.js';
import { canonicalPhone, type CanonicalPhone } from '../core/phone.js';
import { OtpError } from '../errors.js';
import type { Channel, PhoneInput, SendOptions } from '../types.js';
import type { CountryCode } from 'libphonenumber-js/max';

function numberOf(phone: PhoneInput): unknown {
  return typeof phone === 'string' ? phone : (phone as { number?: unknown } | null)?.number;
}

export function parsePhone(phone: PhoneInput, defaultCountry: CountryCode | undefined): CanonicalPhone {
  const raw = numberOf(phone);
  const parsed = typeof raw === 'string' ? canonicalPhone(raw, defaultCountry) : undefined;
  if (parsed === undefined) throw new OtpError('VALIDATION_FAILED', '"phone" must be a valid phone number in international format, e.g. +359871234567', { field: 'phone' });
  return parsed;
}

export function purposeOf(purpose: string | undefined): string {
  if (purpose === undefined) return DEFAULT_PURPOSE;
  if (typeof purpose !== 'string' || !PURPOSE_PATTERN.test(purpose)) throw new OtpError('VALIDATION_FAILED', PURPOSE_RULE, { field: 'purpose' });
  return purpose;
}

export function assertChannel(channel: unknown): asserts channel is Channel {
  if (!isChannel(channel)) throw new OtpError('VALIDATION_FAILED', `"channel" must be one of ${CHANNELS.map((c) => `"${c}"`).join(', ')}`, { field: 'channel' });
}

/** The locales a send wants, best first: `locale` (a malformed one is 400 naming it), else `Accept-Language`. */
export function wantedLocales(opts: Pick<SendOptions, 'locale' | 'acceptLanguage'>): string[] {
  if (opts.locale !== undefined) {
    const tag = normalizeLocale(opts.locale);
    if (tag === undefined) throw new OtpError('VALIDATION_FAILED', LOCALE_RULE, { field: 'locale' });
    return [tag];
  }
  return parseAcceptLanguage(typeof opts.acceptLanguage === 'string' ? opts.acceptLanguage : undefined);
}

/**
 * Has the submitted value the shape of a kit-owned code (a string of exactly `length` digits; JS
 * callers may pass anything)? An input check, not a comparison: the secret is compared only as HMAC
 * digests in constant time (`codeMatches`, lib/core/code.ts).
 */
export function isKitCode(submitted: unknown, length: number): submitted is string {
  return typeof submitted === 'string' && codePattern(length).test(submitted);
}

/** Before the request is known: at least a bounded code a provider could issue (kit codes included). */
export function assertCodeShape(submitted: unknown, length: number): asserts submitted is string {
  if (typeof submitted !== 'string' || !ANY_CODE_PATTERN.test(submitted)) throw invalidCode(codeRule(length));
}

export function invalidCode(message: string): OtpError {
  return new OtpError('VALIDATION_FAILED', message, { field: 'code' });
}
