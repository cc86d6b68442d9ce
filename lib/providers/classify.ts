/**
 * The one place where provider failures are sorted into "retry later" and "permanent". Provider
 * files throw what their SDK or HTTP client gave them (or a ProviderError with the provider's own
 * code); `classifyProviderError` turns it into a ProviderError with `retryable` decided from the
 * tables below. Sources: ../shared/design/providers.md (Twilio and Sinch error tables, SMPP
 * command_status values of the Mada gateway).
 */
import { ProviderError, type ProviderFailureKind } from './provider-error.js';

/** Twilio error codes worth a retry; every other documented 4xx code is permanent. */
const TWILIO_RETRYABLE = new Set(['20429', '60212']);
/** Twilio codes that mean the verification is gone: approved or expired (20404), deleted after 5 checks (60202). */
export const TWILIO_GONE = new Set(['20404', '60202']);

/** Sinch Verification error codes worth a retry (capacity, same number too quickly, server side). */
const SINCH_RETRYABLE = new Set(['42900', '42901', '50000', '50300']);

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

/** Is a documented provider error code worth a retry? Unknown codes fall back to the HTTP status. */
export function isRetryableCode(provider: string, providerCode: string | undefined, httpStatus: number | undefined): boolean {
  const byStatus = httpStatus === undefined ? false : httpStatus === 429 || httpStatus >= 500;
  if (providerCode === undefined) return byStatus;
  switch (provider.toLowerCase()) {
    case 'twilio':
      return TWILIO_RETRYABLE.has(providerCode) || (httpStatus !== undefined && httpStatus >= 500);
    case 'sinch':
      return SINCH_RETRYABLE.has(providerCode) || (httpStatus !== undefined && httpStatus >= 500);
    case 'mada':
      return MADA_RETRYABLE.has(providerCode);
    default:
      return byStatus;
  }
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
    const retryable = isRetryableCode(provider, value.providerCode, value.httpStatus);
    if (retryable === value.retryable) return value;
    return new ProviderError({
      provider,
      kind: value.kind,
      retryable,
      message: value.message,
      providerCode: value.providerCode,
      httpStatus: value.httpStatus,
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
