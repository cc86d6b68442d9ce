/**
 * The shapes of what callers send, defined once: the library methods, the HTTP schemas and the
 * test-number checks all use these, so an input accepted in one place is accepted everywhere.
 */

/** The purpose of a send or verify when none is given. */
export const DEFAULT_PURPOSE = 'default';

export const PURPOSE_PATTERN = /^[a-z0-9][a-z0-9._:-]{0,63}$/i;
export const PURPOSE_RULE = '"purpose" must be 1-64 letters, digits, ".", "_", ":" or "-"';

/** Digits a code may have: NIST SP 800-63B asks for at least 6. */
export const MIN_CODE_LENGTH = 6;
export const MAX_CODE_LENGTH = 10;

const codePatterns = new Map<number, RegExp>();

/** Exactly `length` ASCII digits (a string: a number would lose its leading zeros). */
export function codePattern(length: number): RegExp {
  let pattern = codePatterns.get(length);
  if (pattern === undefined) {
    pattern = new RegExp(`^[0-9]{${length}}$`);
    codePatterns.set(length, pattern);
  }
  return pattern;
}

export const codeRule = (length: number): string => `"code" must be ${length} digits`;

/**
 * What a submitted code may look like at all before its request is known: a kit-owned code is
 * digits (`codePattern`), a provider-owned one may be letters and "-" too (Sinch), up to 32.
 */
export const ANY_CODE_PATTERN = /^[A-Za-z0-9-]{1,32}$/;
