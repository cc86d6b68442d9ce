/** The messages of option mistakes: the option's name, what was wrong, what was given, and the fix. */
import type Joi from 'joi';
import { distance } from './env.js';

/** The fix to suggest for an option (by its top-level name). */
export const HINTS: Readonly<Record<string, string>> = {
  codeLength: 'NIST SP 800-63B asks for at least 6 digits',
  ttlSeconds: 'an OTP must expire within 10 minutes (NIST SP 800-63B, ASVS 2.7.2)',
  secret: 'use at least 32 random characters, e.g. `openssl rand -base64 32`',
  messageTemplate: 'the text must contain _CODE_ where the code goes',
  limits: 'each limit is an object of whole numbers, or false to switch it off (docs/security.md)',
  retention: 'retention takes whole days ({ requestDays: 30, failureDays: 30 }), or false to keep everything',
  destinations: 'countries are ISO 3166-1 alpha-2 codes such as "BG"; number types are libphonenumber-js types such as "PREMIUM_RATE"',
};

/** Formats the first joi problem as "createOtp: option `x` …; fix". */
export function explainOptionError(error: Joi.ValidationError, knownKeys: readonly string[]): string {
  const detail = error.details[0];
  const path = detail?.path.join('.') ?? '';
  if (detail?.type === 'object.unknown') {
    const key: string = typeof detail.context?.key === 'string' ? detail.context.key : path;
    const close = knownKeys.filter((k) => distance(k.toLowerCase(), key.toLowerCase()) <= 2);
    return `createOtp: unknown option \`${path}\`${close.length > 0 ? ` (did you mean \`${close.join('` or `')}\`?)` : ''}; known options: ${knownKeys.join(', ')}`;
  }
  const hint = HINTS[path.split('.')[0] ?? ''];
  const got: unknown = detail?.context?.value;
  const shown = typeof got === 'string' && path.startsWith('secret') ? `a string of ${got.length} characters` : JSON.stringify(got);
  return `createOtp: option \`${path}\` ${(detail?.message ?? error.message).replace(/^"[^"]*" /, '')} (got ${shown ?? 'undefined'})${hint === undefined ? '' : `; ${hint}`}`;
}

