/**
 * One-tap code entry for kit-owned text messages (`webOtp`). Pure.
 * - The WebOTP / origin-bound one-time code line (WICG sms-one-time-codes): the message's last line
 *   is `@<host> #<code>`, so a browser on that origin can offer (or, with the WebOTP API, read) the
 *   code. Only the host is written (the format has no scheme or port).
 * - Android's SMS Retriever: an 11-character app hash included in the message, on its own line
 *   before the WebOTP line (the retriever needs it anywhere in the text, WebOTP needs the last line).
 * Twilio Verify generates its own text: the app hash goes to it as `AppHash` instead.
 */
import Joi from 'joi';

export interface WebOtpOptions {
  /** The site's origin, e.g. `https://example.com` (https, or http on localhost for development). */
  readonly origin?: string;
  /** The Android SMS Retriever hash of your app (11 characters of base64). */
  readonly appHash?: string;
}

export interface ResolvedWebOtp {
  readonly host: string | undefined;
  readonly appHash: string | undefined;
}

export const APP_HASH_PATTERN = /^[A-Za-z0-9+/]{11}$/;

function isOrigin(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  const local = url.hostname === 'localhost' || url.hostname === '127.0.0.1';
  const schemeOk = url.protocol === 'https:' || (url.protocol === 'http:' && local);
  return schemeOk && url.username === '' && url.password === '' && (url.pathname === '/' || url.pathname === '') && url.search === '' && url.hash === '' && !value.endsWith('/');
}

export const webOtpSchema = Joi.object<WebOtpOptions>({
  origin: Joi.string()
    .max(200)
    .custom((value: string, helpers) => (isOrigin(value) ? value : helpers.error('any.invalid')))
    .messages({ 'any.invalid': '{{#label}} must be an origin such as "https://example.com" (https, no path, no trailing slash; http only on localhost)' }),
  appHash: Joi.string().pattern(APP_HASH_PATTERN).messages({ 'string.pattern.base': '{{#label}} must be the 11-character Android SMS Retriever app hash' }),
})
  .or('origin', 'appHash')
  .messages({ 'object.missing': '{{#label}} needs `origin` (WebOTP) or `appHash` (Android SMS Retriever)' });

export function resolveWebOtp(options: WebOtpOptions | undefined): ResolvedWebOtp | undefined {
  if (options === undefined) return undefined;
  return { host: options.origin === undefined ? undefined : new URL(options.origin).hostname, appHash: options.appHash };
}

/** `@example.com #123456`. */
export function webOtpLine(host: string, code: string): string {
  return `@${host} #${code}`;
}

/** The text with the app hash and the WebOTP line appended (the WebOTP line last). */
export function withOneTap(text: string, code: string, webOtp: ResolvedWebOtp | undefined): string {
  if (webOtp === undefined) return text;
  const lines = [text.trimEnd()];
  if (webOtp.appHash !== undefined) lines.push(webOtp.appHash);
  if (webOtp.host !== undefined) lines.push('', webOtpLine(webOtp.host, code));
  return lines.join('\n');
}
