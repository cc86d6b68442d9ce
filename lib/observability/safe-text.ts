/**
 * Last-line guards for what observability output may contain. The kit already redacts provider
 * errors with the request's phone and code before it emits or stores them; these helpers make sure
 * a metric label or a status field can never carry a phone number or a code even if a custom
 * provider or a future event field slips one through. Pure.
 */

/** Label values: short identifiers only. */
const SAFE_LABEL = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Six or more digits in a row could be a code or a subscriber number. */
const LONG_DIGITS = /[0-9]{6,}/;

/** `value` if it is a short identifier without long digit runs, else `fallback`. */
export function safeLabel(value: unknown, fallback = 'other'): string {
  if (typeof value !== 'string' || !SAFE_LABEL.test(value) || LONG_DIGITS.test(value)) return fallback;
  return value;
}

/**
 * Free text (a provider error, a `last_error` column) for a status view: unwraps the JSON string
 * form the kit stores, hides every run of 6+ digits (with an optional `+`), every unmasked
 * `+digits` number and every grouped spelling of 7+ digits (issue 23.9), collapses control
 * characters and truncates.
 */
export function safeText(value: string | null | undefined, maxLength = 200): string | null {
  if (value === null || value === undefined) return null;
  let text = value;
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'string') text = parsed;
    } catch {
      // Not JSON after all (e.g. truncated): keep it as it is.
    }
  }
  text = text
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/\+?(?<![0-9])[0-9]{6,}(?![0-9])/g, '[digits]')
    .replace(/\+[0-9][0-9 ()-]{5,}[0-9]/g, '[number]')
    // A national or grouped spelling (`087 123 4567`, `(202) 555-0143`, `087.123.45.67`): 7+ digits with separators.
    .replace(/\(?(?<![0-9])[0-9](?:[ .()\/-]{0,3}[0-9]){6,}(?![0-9])\)?/g, '[number]');
  return text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text;
}

/** Epoch ms to ISO 8601, null kept. */
export function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
