/**
 * Sinch Verification through the official SDK (`@sinch/sdk-core`): Sinch generates, delivers and
 * checks the code (`ownsCode: true`). SMS uses method `sms`, voice `callout`, WhatsApp `whatsapp`; checks
 * report the code by identity (the phone number). Wire format and error codes:
 * ../shared/design/providers.md §2.
 */
import { randomBytes } from 'node:crypto';
import Joi from 'joi';
// Types only: the SDK (≈ 36 MB of RSS) is imported on first use, so apps that never route to Sinch never load it.
import type * as SinchSdk from '@sinch/sdk-core';
import { configError } from '../errors.js';
import type { Channel, OtpProvider, ProviderCheckResult } from '../types.js';
import { assertProviderSdk, lazy } from './lazy.js';
import { classifyProviderError, isRetryableCode, parseRetryAfter } from './classify.js';
import { sinchLocale } from './locales.js';
import { SINCH_CODE_FORMAT } from './code-format.js';
import type { ProviderContext } from './context.js';
import { ProviderError } from './provider-error.js';

export interface SinchOptions {
  readonly applicationKey: string;
  /** Base64, as the Sinch dashboard shows it. */
  readonly applicationSecret: string;
  /** Replaces the Verification API origin (proxies, tests), e.g. `http://127.0.0.1:4020`. */
  readonly baseUrl?: string;
}

export const sinchOptionsSchema = Joi.object<SinchOptions>({
  applicationKey: Joi.string().min(1).required(),
  applicationSecret: Joi.string().base64().required(),
  baseUrl: Joi.string().uri({ scheme: ['http', 'https'] }),
});

export function sinchOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): Partial<SinchOptions> {
  return {
    ...(env.SINCH_APPLICATION_KEY ? { applicationKey: env.SINCH_APPLICATION_KEY } : {}),
    ...(env.SINCH_APPLICATION_SECRET ? { applicationSecret: env.SINCH_APPLICATION_SECRET } : {}),
    ...(env.SINCH_BASE_URL ? { baseUrl: env.SINCH_BASE_URL } : {}),
  };
}

const PROVIDER = 'Sinch';

let sdk: typeof SinchSdk | undefined;
let sdkLoading: Promise<typeof SinchSdk> | undefined;
/** Imports the SDK once per process (again after a failed import). */
function loadSdk(): Promise<typeof SinchSdk> {
  sdkLoading ??= import('@sinch/sdk-core').then(
    (loaded) => (sdk = loaded),
    (error: unknown) => {
      sdkLoading = undefined;
      throw error;
    },
  );
  return sdkLoading;
}

/** Sinch's method names on the wire for the kit's channels. */
type SinchMethod = 'sms' | 'callout' | 'whatsapp';
const METHOD: Readonly<Record<Channel, SinchMethod>> = { sms: 'sms', call: 'callout', whatsapp: 'whatsapp' };

/**
 * Report errors that are an answer about the code rather than a failure. A Sinch errorCode never
 * decides alone: it counts only together with the HTTP status it is documented with
 * (developers.sinch.com/docs/verification/api-reference/errors; errorCode is HTTP status × 100 + n).
 */
const CODE_INVALID = { errorCode: '40003', httpStatus: 400 }; // "Invalid identity or code": hitrix treats it as a wrong code
const NO_VERIFICATION = { errorCode: '40400', httpStatus: 404 }; // not found: expired, already approved or never started

function isAnswer(error: ProviderError, known: { errorCode: string; httpStatus: number }): boolean {
  return error.kind === 'rejected' && error.providerCode === known.errorCode && error.httpStatus === known.httpStatus;
}

/**
 * `reason` values of a FAIL report that mean the verification itself is over (a new code is
 * needed), as opposed to FAIL with reason "Invalid code", which only means this guess was wrong.
 */
const GONE_REASONS = new Set(['Expired', 'Failed pending', 'Hung up without entering valid code']);

/** The SDK wants the origin without a trailing slash: it concatenates hostname + path. */
function normalizeBaseUrl(baseUrl: string | undefined): string | undefined {
  if (baseUrl === undefined) return undefined;
  const trimmed = baseUrl.trim().replace(/\/+$/, '');
  return trimmed === '' ? undefined : trimmed;
}

/** `RequestFailedError.data` is the decoded body re-serialized as pretty JSON (or a JSON string). */
function parseErrorBody(data: string | undefined): { errorCode?: string; message?: string } {
  if (data === undefined) return {};
  let body: unknown;
  try {
    body = JSON.parse(data);
  } catch {
    return {};
  }
  if (typeof body !== 'object' || body === null) return {};
  const rec = body as { errorCode?: unknown; message?: unknown };
  const errorCode = typeof rec.errorCode === 'number' || (typeof rec.errorCode === 'string' && /^\d+$/.test(rec.errorCode)) ? String(rec.errorCode) : undefined;
  const message = typeof rec.message === 'string' ? rec.message.slice(0, 200) : undefined;
  return { ...(errorCode === undefined ? {} : { errorCode }), ...(message === undefined ? {} : { message }) };
}

function badResponse(message: string, httpStatus?: number, cause?: unknown): ProviderError {
  // An undocumented answer is worth a retry unless it is a plain 4xx (wrong URL, proxy refusal).
  const retryable = httpStatus === undefined || httpStatus < 400 || isRetryableCode(PROVIDER, undefined, httpStatus);
  return new ProviderError({ provider: PROVIDER, kind: 'bad-response', retryable, message, httpStatus, cause });
}

/**
 * Turns what the SDK threw into a ProviderError. The SDK's own messages are not reused: they embed
 * the request URL, which for checks contains the phone number.
 */
function toProviderError(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  // The SDK threw it, so the SDK is loaded; before that only classify.ts can tell what it is.
  if (sdk === undefined) return classifyProviderError(PROVIDER, error);
  const { EmptyResponseError, RequestFailedError, ResponseJSONParseError } = sdk;
  // ResponseJSONParseError extends RequestFailedError, so it must be tested first.
  if (error instanceof ResponseJSONParseError) {
    return badResponse(`answered HTTP ${error.statusCode} with a body that is not JSON`, error.statusCode, error);
  }
  if (error instanceof RequestFailedError) {
    const status = error.statusCode;
    const { errorCode, message } = parseErrorBody(error.data);
    if (errorCode === undefined) return badResponse(`answered HTTP ${status} without a Sinch errorCode`, status, error);
    // The HTTP status decides retryable (429 and 5xx); the errorCode is kept for logs and the row.
    return new ProviderError({
      provider: PROVIDER,
      kind: 'rejected',
      retryable: isRetryableCode(PROVIDER, errorCode, status),
      providerCode: errorCode,
      httpStatus: status,
      message: message ?? `HTTP ${status}`,
      retryAfterMs: parseRetryAfter(error.responseHeaders?.['retry-after'], Date.now()),
      cause: error,
    });
  }
  if (error instanceof EmptyResponseError) {
    // The SDK flattens node-fetch failures into this error's message ("…failed, reason: connect
    // ECONNREFUSED …"), dropping `code`, so classify.ts cannot see the errno; read it from the text.
    const reason = /failed, reason: (.*)$/s.exec(error.message)?.[1];
    if (reason !== undefined) {
      const errno = /\b(E[A-Z]{3,}|UND_ERR_[A-Z_]+)\b/.exec(reason)?.[1];
      return new ProviderError({
        provider: PROVIDER,
        kind: 'network',
        retryable: true,
        providerCode: errno,
        message: `connection failed (${errno ?? reason.slice(0, 100)})`,
        cause: error,
      });
    }
    return badResponse('answered without a body', undefined, error);
  }
  return classifyProviderError(PROVIDER, error);
}

/**
 * Settles with `work`, or rejects with an AbortError as soon as `signal` aborts. The SDK takes no
 * signal, so an abandoned request keeps running; its late outcome is consumed here and never
 * becomes an unhandled rejection.
 */
function untilAborted<T>(work: () => Promise<T>, signal: AbortSignal): Promise<T> {
  const aborted = (): Error => {
    const error = new Error('Sinch call aborted', { cause: signal.reason });
    error.name = 'AbortError';
    return error;
  };
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    let started: Promise<T>;
    try {
      started = work();
    } catch (error) {
      signal.removeEventListener('abort', onAbort);
      reject(toProviderError(error));
      return;
    }
    started
      .then(resolve, (error: unknown) => reject(toProviderError(error)))
      .finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function mapReport(channel: Channel, response: { status?: string; reason?: string }): ProviderCheckResult {
  switch (response.status) {
    case 'SUCCESSFUL':
      return { status: 'approved' };
    // PENDING: the report did not complete the verification, so this code did not verify it.
    case 'PENDING':
      return { status: 'wrong' };
    case 'FAIL':
      return response.reason !== undefined && GONE_REASONS.has(response.reason) ? { status: 'gone' } : { status: 'wrong' };
    // DENIED (fraud, blocked, callback), ABORTED and ERROR end the verification: a new code is needed.
    case 'DENIED':
    case 'ABORTED':
    case 'ERROR':
      return { status: 'gone' };
    default:
      throw badResponse(`${channel} report answered without a known status`);
  }
}

export function sinchProvider(options: SinchOptions, _ctx: ProviderContext): OtpProvider {
  assertProviderSdk(PROVIDER);
  const { error } = sinchOptionsSchema.validate(options, { convert: false });
  if (error !== undefined) throw configError(`Sinch provider: ${error.message} (set sinch.* options or SINCH_* variables)`);
  const baseUrl = normalizeBaseUrl(options.baseUrl);
  type Api = { verifications: SinchSdk.SinchClient['verification']['verifications']; start: typeof SinchSdk.Verification.startVerificationHelper; report: typeof SinchSdk.Verification.reportVerificationByIdentityHelper };
  // The client is made on the first call (the SDK is imported then), once per provider.
  const client = lazy(async (): Promise<Api> => {
    const { SinchClient, Verification } = await loadSdk();
    const made = new SinchClient({
      applicationKey: options.applicationKey,
      applicationSecret: options.applicationSecret,
      ...(baseUrl === undefined ? {} : { verificationHostname: baseUrl }),
      logger: null, // the SDK would log request URLs (with phone numbers) through console
    });
    return { verifications: made.verification.verifications, start: Verification.startVerificationHelper, report: Verification.reportVerificationByIdentityHelper };
  });

  return {
    name: PROVIDER,
    channels: ['sms', 'call', 'whatsapp'],
    ownsCode: true,
    codeFormat: SINCH_CODE_FORMAT,

    async send(input) {
      const method = METHOD[input.channel];
      // Sinch refuses a reused reference (40900, permanent), so each attempt of a request gets its own.
      const reference = `${input.requestId}.${randomBytes(3).toString('hex')}`;
      // WhatsApp takes no locale (its template is chosen on Sinch's side).
      const locale = sinchLocale(input.locale);
      const response = await untilAborted<{ id?: string; method?: string }>(
        async () => {
          const { verifications, start } = await client();
          if (input.channel === 'whatsapp') return verifications.startWhatsApp(start.buildWhatsAppRequest(input.phone, reference));
          return input.channel === 'sms'
            ? verifications.startSms(start.buildSmsRequest(input.phone, reference, locale === undefined ? undefined : { locale }))
            : verifications.startPhoneCall(start.buildPhoneCallRequest(input.phone, reference, locale));
        },
        input.signal,
      );
      if (typeof response.id !== 'string' || response.id === '') {
        throw badResponse(`${method} start answered without a verification id`);
      }
      return {
        ref: response.id,
        request: { method, reference, ...(locale === undefined || input.channel === 'whatsapp' ? {} : { locale }) },
        response: { id: response.id, method: response.method ?? method },
      };
    },

    async check(input) {
      let response: { status?: string; reason?: string };
      try {
        response = await untilAborted<{ status?: string; reason?: string }>(
          async () => {
            const { verifications, report } = await client();
            if (input.channel === 'whatsapp') return verifications.reportWhatsAppByIdentity(report.buildWhatsAppRequest(input.phone, input.code));
            return input.channel === 'sms'
              ? verifications.reportSmsByIdentity(report.buildSmsRequest(input.phone, input.code))
              : verifications.reportPhoneCallByIdentity(report.buildPhoneCallRequest(input.phone, input.code));
          },
          input.signal,
        );
      } catch (error) {
        if (error instanceof ProviderError) {
          if (isAnswer(error, CODE_INVALID)) return { status: 'wrong' };
          if (isAnswer(error, NO_VERIFICATION)) return { status: 'gone' };
        }
        throw error;
      }
      return mapReport(input.channel, response);
    },
  };
}
