/**
 * Redaction of provider requests/responses and error text before they are stored or logged:
 * credentials by key name, the code and the full phone number by value. Pure.
 */
import { maskNumberForms } from './number-forms.js';
import { maskPhone } from './phone.js';

const SECRET_KEYS = /pass(word)?|secret|token|auth|signature|api[-_]?key|credential|cookie|^pin$/i;

export interface RedactContext {
  /** The E.164 number of the request: replaced by its masked form wherever it appears. */
  readonly phone?: string;
  /** The code: replaced wherever it appears as a digit run of its own. */
  readonly code?: string;
  /** Literal secrets (tokens, passwords) to blank out of free text. */
  readonly secrets?: readonly string[];
}

function redactString(text: string, ctx: RedactContext): string {
  let out = text;
  for (const secret of ctx.secrets ?? []) {
    if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  if (ctx.phone !== undefined) {
    const digits = ctx.phone.slice(1);
    out = out.split(ctx.phone).join(maskPhone(ctx.phone));
    out = out.split(encodeURIComponent(ctx.phone)).join(maskPhone(ctx.phone));
    out = out.split(digits).join(maskPhone(ctx.phone).slice(1));
    // National, 00-international, spaced, dashed, dotted, parenthesised (issue 23.9).
    out = maskNumberForms(out, ctx.phone);
  }
  if (ctx.code) {
    out = out.replace(new RegExp(`(?<![0-9])${ctx.code}(?![0-9])`, 'g'), '[code]');
  }
  return out;
}

/** Deep copy of `value` with secrets removed; cycles and depth are bounded. */
export function redact(value: unknown, ctx: RedactContext, depth = 0): unknown {
  if (depth > 8) return '[depth]';
  if (typeof value === 'string') return redactString(value, ctx);
  if (typeof value === 'number') return redactString(String(value), ctx) === String(value) ? value : '[redacted]';
  if (typeof value === 'boolean' || value === null || value === undefined) return value;
  if (Array.isArray(value)) return value.map((item) => redact(item, ctx, depth + 1));
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = SECRET_KEYS.test(key) && typeof item !== 'object' ? '[redacted]' : redact(item, ctx, depth + 1);
    }
    return out;
  }
  return '[unserialisable]';
}

/** Redacts free text (an error summary) for a column, a log or an event, bounded in size. */
export function redactText(text: string, ctx: RedactContext, maxLength = 500): string {
  return redactString(text, ctx).slice(0, maxLength);
}

/** Redacts and serialises for a text column, bounded in size. */
export function redactToJson(value: unknown, ctx: RedactContext, maxLength = 4000): string | null {
  if (value === undefined) return null;
  const text = JSON.stringify(redact(value, ctx));
  return text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
}
