/** Phone numbers: one canonical E.164 form per number, and masking for logs. Pure. */
import { parsePhoneNumberFromString, type CountryCode, type PhoneNumberType } from 'libphonenumber-js/max';

export interface CanonicalPhone {
  /** E.164, e.g. `+359871234567`. */
  readonly e164: string;
  /** ISO 3166-1 alpha-2, or undefined for non-geographic numbers (+800 …). */
  readonly country: CountryCode | undefined;
  readonly type: PhoneNumberType | undefined;
}

/** Characters people type between digits; anything else (letters, CR/LF, `;`) makes the input invalid. */
const FORMATTING = /^[+0-9 ()./-]+$/;

/**
 * Canonicalises a phone number to E.164 with full metadata, or returns undefined when it is not a
 * valid number. Full-width and other compatibility digits are folded to ASCII (NFKC), a leading
 * `00` is read as `+`, and a national number is accepted only when a default country is configured.
 */
export function canonicalPhone(input: string, defaultCountry?: CountryCode): CanonicalPhone | undefined {
  if (input.length > 32) return undefined;
  // Checked before trimming: CR/LF anywhere (log injection) makes the input invalid.
  let text = input.normalize('NFKC');
  if (!FORMATTING.test(text)) return undefined;
  text = text.trim();
  if (text.startsWith('00')) text = `+${text.slice(2)}`;
  if (!text.startsWith('+') && defaultCountry === undefined) return undefined;
  const parsed = parsePhoneNumberFromString(text, defaultCountry);
  if (parsed === undefined || !parsed.isValid()) return undefined;
  if (parsed.number.length > 16) return undefined; // E.164: at most 15 digits after '+'
  return { e164: parsed.number, country: parsed.country, type: parsed.getType() };
}

/** `+359871234567` → `+35987*****67`: country and operator prefix kept, subscriber digits hidden. */
export function maskPhone(e164: string): string {
  if (e164.length <= 6) return '*'.repeat(e164.length);
  const keep = Math.min(6, e164.length - 6);
  return e164.slice(0, keep) + '*'.repeat(e164.length - keep - 2) + e164.slice(-2);
}
