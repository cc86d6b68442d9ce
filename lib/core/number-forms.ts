/**
 * Every written form of one phone number in free text (issue 23.9): E.164 with or without `+`,
 * national with a trunk prefix (`087 123 4567`, `(202) 555-0143`), international with `00` or
 * `011`, spaced, dashed, dotted or parenthesised. A form is found by its national significant
 * number (the digits after the country code), matched digit by digit with up to three separators
 * between two digits, wherever it stands: whatever precedes it (country code, trunk prefix, `00`)
 * identifies nobody once the national number is hidden. Pure.
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

/** Characters written between the digits of a number (and `%20`, a URL-encoded space). */
const SEPARATOR = '(?:[\\s().\\-/\\u00a0\\u2010-\\u2015]|%20)';

/** The national significant number of an E.164 number (`+359871234567` → `871234567`); its last 8 digits when it does not parse. */
export function nationalNumberOf(e164: string): string {
  const nsn = parsePhoneNumberFromString(e164)?.nationalNumber;
  if (nsn !== undefined && nsn.length > 0) return nsn;
  return e164.replace(/[^0-9]/g, '').slice(-8);
}

/** The national number masked as maskPhone masks it: first two and last two digits kept when long enough. */
function maskedNational(nsn: string): string {
  if (nsn.length >= 8) return `${nsn.slice(0, 2)}${'*'.repeat(nsn.length - 4)}${nsn.slice(-2)}`;
  if (nsn.length >= 6) return `${'*'.repeat(nsn.length - 2)}${nsn.slice(-2)}`;
  return '*'.repeat(nsn.length);
}

/**
 * A matcher of the number's national digits in any spelling. A national number of 7 digits or
 * more is matched even inside a longer digit run (false positives are only more masking); a
 * shorter one only as a run of its own, after a country code, trunk `0` or `00` prefix.
 */
function nationalPattern(e164: string, nsn: string): RegExp {
  const body = nsn.split('').join(`${SEPARATOR}{0,3}`);
  if (nsn.length >= 7) return new RegExp(body, 'g');
  const cc = e164.replace(/[^0-9]/g, '').slice(0, -nsn.length);
  const prefix = cc === '' ? '(?:0|00)?' : `(?:0|00|\\+?${cc}|00${cc})?`;
  return new RegExp(`(?<=(?:^|[^0-9])${prefix}${SEPARATOR}{0,3})${body}(?![0-9])`, 'g');
}

/** `text` with every written form of `e164` masked (its national digits hidden). */
export function maskNumberForms(text: string, e164: string): string {
  const nsn = nationalNumberOf(e164);
  if (nsn.length < 4) return text;
  return text.replace(nationalPattern(e164, nsn), maskedNational(nsn));
}
