/**
 * The shapes of codes that providers issue. A kit-owned code (Mada, Console) stays exactly
 * `codeLength` digits; a provider-owned code is checked against the provider's `codeFormat`.
 */
import type { OtpProvider, ProviderCodeFormat } from '../types.js';

/**
 * Twilio Verify: the service's code length is 4-10 digits, and VerificationCheck's `Code` is "the
 * 4-10 character string being verified" (twilio.com/docs/verify/api/service, …/verification-check).
 */
export const TWILIO_CODE_FORMAT: ProviderCodeFormat = { pattern: /^[0-9]{4,10}$/, maxLength: 10, description: '4-10 digits' };

/**
 * Sinch Verification: codes may be Numeric, Alpha or Alphanumeric (`codeType`, @sinch/verification
 * 1.4.0 `CodeType`), "Maximum 10 characters. Valid characters: A-Z, a-z, 0-9, '-'"
 * (developers.sinch.com/docs/verification/api-reference/errors, 40001).
 */
export const SINCH_CODE_FORMAT: ProviderCodeFormat = { pattern: /^[A-Za-z0-9-]{1,10}$/, maxLength: 10, description: '1-10 letters, digits or "-"' };

/** For a provider-owned code when the provider declares no `codeFormat`: a bounded string. */
export const PROVIDER_CODE_FALLBACK: ProviderCodeFormat = { pattern: /^[A-Za-z0-9-]{1,32}$/, maxLength: 32, description: '1-32 letters, digits or "-"' };

/** The longest code any provider may declare; the HTTP layer can refuse longer input before anything else. */
export const MAX_PROVIDER_CODE_LENGTH = 32;

/** The format a code checked by `provider` must have. */
export function providerCodeFormat(provider: Pick<OtpProvider, 'codeFormat'>): ProviderCodeFormat {
  return provider.codeFormat ?? PROVIDER_CODE_FALLBACK;
}

/**
 * Could `provider` have issued something of this shape? An input check only, before the provider is
 * asked: it compares no secret (the provider compares the code itself). A string only (a number
 * loses leading zeros).
 */
export function isProviderCode(provider: Pick<OtpProvider, 'codeFormat'>, submitted: unknown): submitted is string {
  const format = providerCodeFormat(provider);
  return typeof submitted === 'string' && submitted.length <= format.maxLength && format.pattern.test(submitted);
}

/** Checks a declared format: an anchored RegExp without the g/y flags and a 1-32 `maxLength`. */
export function codeFormatProblem(format: unknown): string | undefined {
  if (typeof format !== 'object' || format === null) return 'codeFormat must be { pattern, maxLength, description }';
  const f = format as Partial<ProviderCodeFormat>;
  if (!(f.pattern instanceof RegExp) || !f.pattern.source.startsWith('^') || !f.pattern.source.endsWith('$') || /[gy]/.test(f.pattern.flags)) {
    return 'codeFormat.pattern must be an anchored RegExp (^…$) without the g or y flag';
  }
  if (typeof f.maxLength !== 'number' || !Number.isInteger(f.maxLength) || f.maxLength < 1 || f.maxLength > MAX_PROVIDER_CODE_LENGTH) {
    return `codeFormat.maxLength must be a whole number from 1 to ${MAX_PROVIDER_CODE_LENGTH}`;
  }
  if (typeof f.description !== 'string' || f.description === '') return 'codeFormat.description must be a non-empty string';
  return undefined;
}
