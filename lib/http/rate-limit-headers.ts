/**
 * IETF `RateLimit` and `RateLimit-Policy` header fields on a 429, in the form of
 * draft-ietf-httpapi-ratelimit-headers-08 (the one express-rate-limit sends with
 * `standardHeaders: 'draft-8'`):
 *
 *   RateLimit-Policy: "sendsPerNumber";q=5;w=600
 *   RateLimit: "sendsPerNumber";r=0;t=42
 *
 * The values come from the RATE_LIMITED error's details: `retryAfter` (seconds, always there),
 * and, when the refusal names its limit, `limit` (the option's name), `max` and `windowSeconds`.
 * A policy is sent only when all three are known; without a name the quota is called "otp". No
 * partition key (`pk`) is sent: it would be derived from the client's number or address. Pure.
 */
import type { OtpError } from '../errors.js';

/** Header name → value; empty when the error is no rate limit or carries no retry time. */
export type RateLimitHeaders = Readonly<Record<string, string>>;

/** The quota name when none is known: the kit's limits as a whole. */
export const DEFAULT_POLICY_NAME = 'otp';

/** sf-string content: the option names are identifiers already; anything else is not echoed. */
const POLICY_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

function wholeSeconds(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.ceil(value) : undefined;
}

function positiveInteger(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

/** The standard header fields for `error` (a `RATE_LIMITED` OtpError), or none. */
export function rateLimitHeaders(error: OtpError): RateLimitHeaders {
  if (error.code !== 'RATE_LIMITED') return {};
  const reset = wholeSeconds(error.details.retryAfter);
  if (reset === undefined) return {};
  const limit = error.details.limit;
  const name = typeof limit === 'string' && POLICY_NAME.test(limit) ? limit : DEFAULT_POLICY_NAME;
  const headers: Record<string, string> = { RateLimit: `"${name}";r=0;t=${reset}` };
  const max = positiveInteger(error.details.max);
  const window = positiveInteger(error.details.windowSeconds);
  if (name !== DEFAULT_POLICY_NAME && max !== undefined && window !== undefined) headers['RateLimit-Policy'] = `"${name}";q=${max};w=${window}`;
  return headers;
}
