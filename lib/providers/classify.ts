/**
 * The one place where provider failures are sorted into "retry later" and "permanent". Provider
 * files throw what their SDK or HTTP client gave them (or a ProviderError with the provider's own
 * code); `classifyProviderError` turns it into a ProviderError with `retryable` decided from the
 * rules below. Sources, with the table per provider: docs/providers.md ("Answer mapping").
 */
import { ProviderError, type ProviderFailureKind } from './provider-error.js';

/**
 * Twilio and Sinch answers are classified by HTTP status first (429 and 5xx are worth a retry,
 * other 4xx are not: RFC 9110 §15.5/§15.6, RFC 6585 §4), then documented codes refine that.
 * Twilio codes, from twilio.com/docs/api/errors/<code>:
 * - 20429 (429, "safe to retry after backing off"), 60212 (429, concurrent requests for the
 *   number), 20503 (503, "try again with exponential back-off"): retryable even without a status;
 * - 60203 (429, max send attempts) and 60202 (429, max check attempts): the number is locked at
 *   Twilio until its verification expires (10 minutes), so these are `rate-limited`, never retried
 *   at Twilio before then.
 */
const TWILIO_RETRYABLE = new Set(['20429', '60212', '20503']);
/** Twilio codes that lock the number at Twilio: 60202 max check attempts, 60203 max send attempts. */
export const TWILIO_NUMBER_LOCKED = new Set(['60202', '60203']);
/** How long Twilio keeps a number locked after 60202/60203: until the verification expires. */
export const TWILIO_LOCK_MS = 10 * 60_000;
/** Twilio's 20404: the verification is gone (approved, expired after 10 min, or deleted). */
export const TWILIO_GONE = new Set(['20404']);

/** The longest wait a `Retry-After` header may ask for before it is ignored as implausible (1 day). */
const MAX_RETRY_AFTER_MS = 24 * 60 * 60_000;

/**
 * Reads an HTTP `Retry-After` value (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) as ms from
 * `now`; undefined when absent, malformed, in the past or over a day.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  let ms: number;
  if (/^\d{1,9}$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at) || !/[A-Za-z]/.test(text)) return undefined;
    ms = at - now;
  }
  return ms > 0 && ms <= MAX_RETRY_AFTER_MS ? ms : undefined;
}

/**
 * SMPP command_status values (decimal) the Mada gateway answers that are worth a retry:
 * system error, queue full, submit failed, throttled, receiver temporary, delivery failure, unknown.
 */
const MADA_RETRYABLE = new Set(['8', '20', '69', '88', '100', '254', '255']);

/** SMPP names of the Mada statuses, for messages and logs. */
export const SMPP_STATUS_NAMES: Readonly<Record<string, string>> = {
  '1': 'RINVMSGLEN: message too long',
  '8': 'RSYSERR: system error',
  '10': 'RINVSRCADR: bad source address',
  '11': 'RINVDSTADR: bad destination address',
  '13': 'RBINDFAIL: bind failed',
  '14': 'RINVPASWD: bad password',
  '15': 'RINVSYSID: bad system id',
  '20': 'RMSGQFUL: message queue full',
  '69': 'RSUBMITFAIL: submit failed',
  '72': 'RINVSRCTON: bad source TON',
  '73': 'RINVSRCNPI: bad source NPI',
  '80': 'RINVDSTTON: bad destination TON',
  '81': 'RINVDSTNPI: bad destination NPI',
  '88': 'RTHROTTLED: throttled',
  '97': 'RINVSCHED: bad scheduled delivery time',
  '98': 'RINVEXPIRY: bad validity period',
  '100': 'RX_T_APPN: receiver temporary error',
  '101': 'RX_P_APPN: receiver permanent error',
  '102': 'RX_R_APPN: receiver reject',
  '254': 'RDELIVERYFAILURE: delivery failure',
  '255': 'RUNKNOWNERR: unknown error',
  '260': 'RINVDCS: bad data coding',
  '1035': 'insufficient credits',
  '1036': 'destination blocked',
};

/** Is an HTTP status worth a retry (429 or 5xx)? */
export function isRetryableStatus(httpStatus: number | undefined): boolean {
  return httpStatus !== undefined && (httpStatus === 429 || httpStatus >= 500);
}

/**
 * Is a provider answer worth a retry? Twilio and Sinch: the HTTP status decides, documented Twilio
 * codes refine it (Sinch codes never decide alone: the public Sinch pages document too few of them).
 * Mada: the SMPP `commandStatus` decides (the gateway's HTTP status means nothing, as for hitrix).
 */
export function isRetryableCode(provider: string, providerCode: string | undefined, httpStatus: number | undefined): boolean {
  switch (provider.toLowerCase()) {
    case 'twilio':
      if (providerCode !== undefined && TWILIO_NUMBER_LOCKED.has(providerCode)) return false;
      return isRetryableStatus(httpStatus) || (providerCode !== undefined && TWILIO_RETRYABLE.has(providerCode));
    case 'mada':
      return providerCode === undefined ? isRetryableStatus(httpStatus) : MADA_RETRYABLE.has(providerCode);
    default:
      return isRetryableStatus(httpStatus);
  }
}

/** Is this a Twilio answer that locks the number at Twilio (60202, 60203)? */
export function isTwilioNumberLock(provider: string, providerCode: string | undefined): boolean {
  return provider.toLowerCase() === 'twilio' && providerCode !== undefined && TWILIO_NUMBER_LOCKED.has(providerCode);
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET']);

function errnoOf(value: unknown): string | undefined {
  let current: unknown = value;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth += 1) {
    const rec = current as { code?: unknown; errno?: unknown; cause?: unknown };
    const errno = rec.code;
    if (typeof errno === 'string' && NETWORK_CODES.has(errno)) return errno;
    if (typeof rec.errno === 'string' && NETWORK_CODES.has(rec.errno)) return rec.errno;
    current = rec.cause;
  }
  return undefined;
}

/**
 * Classifies anything a provider call threw. A ProviderError passes through with `retryable`
 * recomputed from the tables when it carries a provider code (so the policy lives here, not in each
 * provider file); aborts become timeouts; socket errors become network failures (retryable).
 */
export function classifyProviderError(provider: string, value: unknown, timedOut = false): ProviderError {
  if (timedOut) {
    return new ProviderError({ provider, kind: 'timeout', retryable: true, message: 'no answer within the timeout', cause: value });
  }
  if (value instanceof ProviderError) {
    if (value.kind !== 'rejected') return value;
    const locked = isTwilioNumberLock(provider, value.providerCode);
    const retryable = isRetryableCode(provider, value.providerCode, value.httpStatus);
    if (!locked && retryable === value.retryable) return value;
    return new ProviderError({
      provider,
      kind: locked ? 'rate-limited' : value.kind,
      retryable,
      message: value.message,
      providerCode: value.providerCode,
      httpStatus: value.httpStatus,
      retryAfterMs: locked ? (value.retryAfterMs ?? TWILIO_LOCK_MS) : value.retryAfterMs,
      cause: value.cause,
    });
  }
  const name = value instanceof Error ? value.name : '';
  if (name === 'AbortError' || name === 'TimeoutError') {
    return new ProviderError({ provider, kind: 'timeout', retryable: true, message: 'no answer within the timeout', cause: value });
  }
  const errno = errnoOf(value);
  if (errno !== undefined) {
    return new ProviderError({ provider, kind: 'network', retryable: true, message: `connection failed (${errno})`, providerCode: errno, cause: value });
  }
  const message = value instanceof Error ? value.message : String(value);
  const kind: ProviderFailureKind = 'bad-response';
  return new ProviderError({ provider, kind, retryable: true, message: message.slice(0, 300), cause: value });
}
