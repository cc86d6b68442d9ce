/** Phone numbers: one canonical E.164 form per number, and masking for logs. Pure. */
import { getCountries, getCountryCallingCode, parsePhoneNumberFromString, type CountryCode, type PhoneNumberType } from 'libphonenumber-js/max';

export interface CanonicalPhone {
  /** E.164, e.g. `+359871234567`. */
  readonly e164: string;
  /** ISO 3166-1 alpha-2, or undefined for non-geographic numbers (+800 …). */
  readonly country: CountryCode | undefined;
  readonly type: PhoneNumberType | undefined;
}

/** Characters people type between digits; anything else (letters, CR/LF, `;`) makes the input invalid. */
const FORMATTING = /^[+0-9 ()./-]+$/;

/** Arabic-Indic (U+0660-0669) and Eastern Arabic-Indic (U+06F0-06F9) digits, which NFKC leaves as they are. */
const ARABIC_DIGITS = /[\u0660-\u0669\u06F0-\u06F9]/g;

/**
 * Canonicalises a phone number to E.164 with full metadata, or returns undefined when it is not a
 * valid number. Full-width and other compatibility digits are folded to ASCII (NFKC), and so are
 * Arabic-Indic digits (as libphonenumber does), a leading `00` is read as `+`, and a national
 * number is accepted only when a default country is configured.
 */
export function canonicalPhone(input: string, defaultCountry?: CountryCode): CanonicalPhone | undefined {
  if (input.length > 32) return undefined;
  // Checked before trimming: CR/LF anywhere (log injection) makes the input invalid.
  let text = input.normalize('NFKC').replace(ARABIC_DIGITS, (d) => String((d.codePointAt(0) as number) & 0x0f));
  if (!FORMATTING.test(text)) return undefined;
  text = text.trim();
  if (text.startsWith('00')) text = `+${text.slice(2)}`;
  if (!text.startsWith('+') && defaultCountry === undefined) return undefined;
  const parsed = parsePhoneNumberFromString(text, defaultCountry);
  if (parsed === undefined) return undefined;
  // A number with a type is valid (libphonenumber's isValid is "has a type" wherever the metadata has
  // types, as the max set does): the second pass over the type patterns runs only for the rest.
  const type = parsed.getType();
  if (type === undefined && !parsed.isValid()) return undefined;
  if (parsed.number.length > 16) return undefined; // E.164: at most 15 digits after '+'
  return { e164: parsed.number, country: parsed.country, type };
}

/**
 * Calling code → country, for the calling codes a single country uses (+359 → BG), where
 * libphonenumber answers that country without looking at the rest of the number. The codes several
 * countries share (+1, +7, +44 …) are not here: their country needs the full parse.
 */
const SOLE_COUNTRY: ReadonlyMap<string, CountryCode> = (() => {
  const byCode = new Map<string, CountryCode[]>();
  for (const country of getCountries()) {
    const code = getCountryCallingCode(country);
    byCode.set(code, [...(byCode.get(code) ?? []), country]);
  }
  return new Map([...byCode].filter(([, countries]) => countries.length === 1).map(([code, countries]) => [code, countries[0] as CountryCode]));
})();

const E164 = /^\+[1-9][0-9]{6,14}$/;

/**
 * The country of a number already in E.164 (as the kit stores it), without the validity and
 * type checks `canonicalPhone` adds: for the end of each request. Calling codes are prefix-free,
 * so a number whose first one to three digits are a single country's code is that country's
 * (the same answer as the parse, at a tenth of its cost); the rest are parsed.
 */
export function countryOfE164(e164: string): CountryCode | undefined {
  if (E164.test(e164)) {
    for (let digits = 1; digits <= 3; digits += 1) {
      const sole = SOLE_COUNTRY.get(e164.slice(1, 1 + digits));
      if (sole !== undefined) return sole;
    }
  }
  return parsePhoneNumberFromString(e164)?.country;
}

/** `+359871234567` → `+35987*****67`: country and operator prefix kept, subscriber digits hidden. */
export function maskPhone(e164: string): string {
  if (e164.length <= 6) return '*'.repeat(e164.length);
  const keep = Math.min(6, e164.length - 6);
  return e164.slice(0, keep) + '*'.repeat(e164.length - keep - 2) + e164.slice(-2);
}
