/**
 * Twilio Verify v2: Twilio generates, delivers (SMS or voice call) and checks the code.
 * Wire format, error codes and the loopback override: ../shared/design/providers.md, section 1.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import Joi from 'joi';
// Types only: the SDK (≈ 23 MB of RSS, CommonJS: its exports are the `default`) is imported on first use.
import type TwilioSdk from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import type * as TwilioHttpResponse from 'twilio/lib/http/response.js';
import type { OtpProvider, ProviderCheckResult } from '../types.js';
import { assertProviderSdk, lazy } from './lazy.js';
import { classifyProviderError, isRetryableCode, parseRetryAfter, TWILIO_GONE, TWILIO_LOCK_MS } from './classify.js';
import { TWILIO_CODE_FORMAT } from './code-format.js';
import type { ProviderContext } from './context.js';
import { narrowLocale, TWILIO_LOCALES } from './locales.js';
import { createNumberLocks } from './number-locks.js';
import { ProviderError } from './provider-error.js';

export interface TwilioOptions {
  readonly accountSid: string;
  readonly authToken: string;
  readonly verifyServiceSid: string;
  /** Replaces the API origin (proxies, tests), e.g. `http://127.0.0.1:4010`. */
  readonly baseUrl?: string;
}

export const twilioOptionsSchema = Joi.object<TwilioOptions>({
  accountSid: Joi.string().pattern(/^AC[0-9a-fA-F]{32}$/).required(),
  authToken: Joi.string().min(8).required(),
  verifyServiceSid: Joi.string().pattern(/^VA[0-9a-fA-F]{32}$/).required(),
  baseUrl: Joi.string().uri({ scheme: ['http', 'https'] }),
});

export function twilioOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): Partial<TwilioOptions> {
  return {
    ...(env.TWILIO_ACCOUNT_SID ? { accountSid: env.TWILIO_ACCOUNT_SID } : {}),
    ...(env.TWILIO_AUTH_TOKEN ? { authToken: env.TWILIO_AUTH_TOKEN } : {}),
    ...(env.TWILIO_VERIFY_SERVICE_SID ? { verifyServiceSid: env.TWILIO_VERIFY_SERVICE_SID } : {}),
    ...(env.TWILIO_BASE_URL ? { baseUrl: env.TWILIO_BASE_URL } : {}),
  };
}

const PROVIDER = 'Twilio';

let sdk: typeof TwilioSdk | undefined;
let sdkLoading: Promise<typeof TwilioSdk> | undefined;
/** Imports the SDK once per process (again after a failed import). */
function loadSdk(): Promise<typeof TwilioSdk> {
  sdkLoading ??= import('twilio').then(
    (loaded) => (sdk = loaded.default),
    (error: unknown) => {
      sdkLoading = undefined;
      throw error;
    },
  );
  return sdkLoading;
}

/**
 * Verification statuses after which Twilio will never approve the verification (the enum of
 * `verify.v2.service.verification_check.status` in twilio-oai's twilio_verify_v2.json).
 */
const DEAD_STATUSES = new Set(['canceled', 'max_attempts_reached', 'expired', 'deleted', 'failed']);
/** A Verification SID: `VE` and 32 hex digits (twilio-oai: `^VE[0-9a-fA-F]{32}$`). */
const VERIFICATION_SID = /^VE[0-9a-fA-F]{32}$/;

/**
 * The SDK's request methods take no AbortSignal; the signal of the current call travels here
 * instead and an axios interceptor attaches it, so a deadline really closes the socket.
 */
const currentSignal = new AsyncLocalStorage<AbortSignal>();

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseBody(body: unknown): unknown {
  if (typeof body !== 'string') return body;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The HTTP client handed to the SDK: optionally swaps the origin of every Twilio domain
 * (verify.twilio.com, api.twilio.com…) for `baseUrl`, keeping path and query, and turns answers
 * that are not Twilio's JSON into `bad-response` errors before the SDK parses them.
 */
function httpClientClass(twilio: typeof TwilioSdk, clock: () => number) {
  return class TwilioHttpClient extends twilio.RequestClient {
    private readonly origin: string | undefined;

    constructor(baseUrl: string | undefined, opts: RequestClient.RequestClientOptions) {
      super(opts);
      this.origin = baseUrl === undefined ? undefined : new URL(baseUrl).origin;
      this.axios.interceptors.request.use((config) => {
        const signal = currentSignal.getStore();
        if (signal !== undefined) config.signal = signal;
        return config;
      });
    }

    override async request<TData>(o: RequestClient.RequestOptions<TData>): Promise<TwilioHttpResponse.default<TData>> {
      let uri = o.uri;
      if (this.origin !== undefined) {
        const u = new URL(o.uri);
        uri = new URL(u.pathname + u.search, this.origin).toString();
      }
      const res = await super.request<TData>({ ...o, uri });
      const body = parseBody(res.body);
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      // Success needs a JSON object; an error needs one carrying Twilio's numeric `code`.
      const documented = ok ? isPlainObject(body) : isPlainObject(body) && Number.isInteger(body.code);
      if (documented && !ok && isPlainObject(body)) throw documentedError(res.statusCode, body, res.headers, clock());
      if (!documented) {
        const raw = typeof res.body === 'string' ? res.body : JSON.stringify(res.body) ?? '';
        const what = raw.trim() === '' ? 'an empty body' : `a body that is not Twilio's JSON (${raw.slice(0, 60).replace(/\s+/g, ' ')})`;
        throw new ProviderError({
          provider: PROVIDER,
          kind: 'bad-response',
          retryable: ok || isRetryableCode(PROVIDER, undefined, res.statusCode),
          httpStatus: res.statusCode,
          message: `HTTP ${res.statusCode} with ${what}`,
        });
      }
      return res;
    }
  };
}

/** A header value from the SDK's response headers (axios gives a plain object with lower-case names). */
function headerOf(headers: unknown, name: string): string | undefined {
  if (!isPlainObject(headers)) return undefined;
  const value = headers[name] ?? headers[name.toLowerCase()];
  return typeof value === 'string' ? value : undefined;
}

/**
 * A documented Twilio error answer (legacy `{code, message, more_info, status}` or RFC 9457 with
 * `code`), turned into a ProviderError here rather than by the SDK, so `Retry-After` is kept.
 */
function documentedError(httpStatus: number, body: Record<string, unknown>, headers: unknown, now: number): ProviderError {
  const code = String(body.code);
  const text = typeof body.message === 'string' && body.message !== '' ? body.message : typeof body.title === 'string' ? body.title : `HTTP ${httpStatus}`;
  return classifyProviderError(
    PROVIDER,
    new ProviderError({
      provider: PROVIDER,
      kind: 'rejected',
      retryable: isRetryableCode(PROVIDER, code, httpStatus),
      providerCode: code,
      httpStatus,
      message: text.slice(0, 300),
      retryAfterMs: parseRetryAfter(headerOf(headers, 'retry-after'), now),
    }),
  );
}

/** Twilio's RFC 9457 exception is not exported by the SDK; recognise it by shape. */
function isServiceException(value: unknown): value is Error & { status: number; code: number } {
  return value instanceof Error && typeof (value as { status?: unknown }).status === 'number' && typeof (value as { code?: unknown }).code === 'number' && typeof (value as { title?: unknown }).title === 'string';
}

/** Turns whatever the SDK threw into a classified ProviderError without credentials in it. */
function toProviderError(error: unknown): ProviderError {
  if (error instanceof ProviderError) return classifyProviderError(PROVIDER, error);
  if ((sdk !== undefined && error instanceof sdk.RestException) || isServiceException(error)) {
    const code = typeof error.code === 'number' ? String(error.code) : undefined;
    const message = typeof error.message === 'string' && error.message !== '' ? error.message : `HTTP ${error.status}`;
    const retryable = isRetryableCode(PROVIDER, code, error.status);
    return classifyProviderError(PROVIDER, new ProviderError({ provider: PROVIDER, kind: 'rejected', retryable, providerCode: code, httpStatus: error.status, message, cause: error }));
  }
  if (isPlainObject(error) && error.isAxiosError === true) {
    // Axios errors carry the request config, including the Authorization header: keep only name, code, message.
    const errorCode = typeof error.code === 'string' ? error.code : undefined;
    const message = typeof error.message === 'string' ? error.message : 'request failed';
    if (errorCode === 'ECONNABORTED' || errorCode === 'ERR_CANCELED') {
      return new ProviderError({ provider: PROVIDER, kind: 'timeout', retryable: true, message: 'no answer within the timeout' });
    }
    const clean = Object.assign(new Error(message), { code: errorCode });
    return classifyProviderError(PROVIDER, clean);
  }
  return classifyProviderError(PROVIDER, error);
}

function badResponse(message: string): ProviderError {
  return new ProviderError({ provider: PROVIDER, kind: 'bad-response', retryable: true, message });
}

function gone(error: ProviderError): boolean {
  return error.kind === 'rejected' && error.providerCode !== undefined && TWILIO_GONE.has(error.providerCode);
}

/** The value of `valid` when it is a boolean; `null` or absent (legacy, nullable in the spec) is no evidence. */
function validOf(value: unknown): boolean | undefined {
  return typeof value === 'boolean' ? value : undefined;
}

/**
 * Maps a VerificationCheck answer by its `status` alone (twilio-oai: `valid` is nullable and
 * "Use status instead. Legacy property"); a boolean `valid` that contradicts the status makes the
 * answer a bad response rather than a verdict.
 */
function mapCheck(status: unknown, validValue: unknown): ProviderCheckResult {
  if (typeof status !== 'string') throw badResponse('verification check answer without a status');
  const valid = validOf(validValue);
  const contradiction = (): ProviderError => badResponse(`verification check answered status "${status}" with valid=${String(valid)}`);
  if (status === 'approved') {
    if (valid === false) throw contradiction();
    return { status: 'approved' };
  }
  if (valid === true) throw contradiction();
  if (status === 'pending') return { status: 'wrong' };
  if (DEAD_STATUSES.has(status)) return { status: 'gone' };
  throw badResponse(`verification check answered an unknown status "${status.slice(0, 40)}"`);
}

/** The failure of a send for a number Twilio still refuses (after 60202 or 60203), without calling Twilio. */
function lockedError(remainingMs: number, code: string): ProviderError {
  return new ProviderError({
    provider: PROVIDER,
    kind: 'rate-limited',
    retryable: false,
    providerCode: code,
    retryAfterMs: remainingMs,
    message: `Twilio refuses new verifications for this number (${code}) for another ${Math.ceil(remainingMs / 1000)} s`,
  });
}

export function twilioProvider(options: TwilioOptions, ctx: ProviderContext): OtpProvider {
  assertProviderSdk(PROVIDER);
  // With a custom httpClient the SDK ignores its own timeout/autoRetry options: set them here.
  // autoRetry stays off because the kit owns retries (a 429 is classified and queued instead).
  type Service = ReturnType<TwilioSdk.Twilio['verify']['v2']['services']>;
  // The client is made on the first call (the SDK is imported then), once per provider.
  const clock = ctx.clock ?? Date.now;
  // Numbers Twilio locked (60202/60203), with the code that locked them: sends skip Twilio until then.
  const locks = createNumberLocks(clock);
  const lockNumber = (phone: string, failure: ProviderError): void => locks.lock(phone, failure.retryAfterMs ?? TWILIO_LOCK_MS, failure.providerCode ?? '60203');
  const service = lazy(async (): Promise<Service> => {
    const twilio = await loadSdk();
    const HttpClient = httpClientClass(twilio, clock);
    const httpClient = new HttpClient(options.baseUrl, { timeout: ctx.timeoutMs, autoRetry: false });
    return twilio(options.accountSid, options.authToken, { httpClient, autoRetry: false }).verify.v2.services(options.verifyServiceSid);
  });

  return {
    name: PROVIDER,
    channels: ['sms', 'call', 'whatsapp'],
    ownsCode: true,
    codeFormat: TWILIO_CODE_FORMAT,

    async send(input) {
      const locale = narrowLocale(input.locale, TWILIO_LOCALES); // Twilio's Channel values are the kit's; AppHash is for SMS
      const params = { to: input.phone, channel: input.channel, ...(locale === undefined ? {} : { locale }), ...(input.channel === 'sms' && input.appHash !== undefined ? { appHash: input.appHash } : {}) };
      const locked = locks.current(input.phone);
      if (locked !== undefined) throw lockedError(locked.remainingMs, locked.reason);
      let verification: { sid: unknown; status: unknown; channel: unknown };
      try {
        const verifications = (await service()).verifications;
        verification = await currentSignal.run(input.signal, () => verifications.create(params));
      } catch (error) {
        const failure = toProviderError(error);
        if (failure.kind === 'rate-limited') lockNumber(input.phone, failure);
        throw failure;
      }
      if (typeof verification.sid !== 'string' || !VERIFICATION_SID.test(verification.sid) || typeof verification.status !== 'string') {
        throw badResponse('verification answer without a well-formed sid (VE + 32 hex) or a status');
      }
      return {
        ref: verification.sid,
        request: params,
        response: { sid: verification.sid, status: verification.status, channel: verification.channel },
      };
    },

    async check(input): Promise<ProviderCheckResult> {
      let result: { status: unknown; valid: unknown };
      try {
        const checks = (await service()).verificationChecks;
        result = await currentSignal.run(input.signal, () => checks.create({ to: input.phone, code: input.code }));
      } catch (error) {
        const failure = toProviderError(error);
        // 20404: approved already, expired or deleted.
        if (gone(failure)) return { status: 'gone' };
        // 60202: five wrong checks; Twilio refuses new verifications for the number until this one
        // expires (10 min). The verification is over, and the next sends go to the next provider.
        if (failure.kind === 'rate-limited' && failure.providerCode === '60202') {
          lockNumber(input.phone, failure);
          return { status: 'gone' };
        }
        throw failure;
      }
      return mapCheck(result.status, result.valid);
    },
  };
}
