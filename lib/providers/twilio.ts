/**
 * Twilio Verify v2: Twilio generates, delivers (SMS or voice call) and checks the code.
 * Wire format, error codes and the loopback override: ../shared/design/providers.md, section 1.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import Joi from 'joi';
// Types only: the SDK (≈ 23 MB of RSS) is imported on first use, so apps that never route to
// Twilio never load it. twilio is CommonJS: its exports are the `default` of the dynamic import.
import type TwilioSdk from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import type * as TwilioHttpResponse from 'twilio/lib/http/response.js';
import type { OtpProvider, ProviderCheckResult } from '../types.js';
import { assertProviderSdk, lazy } from './lazy.js';
import { classifyProviderError, isRetryableCode, TWILIO_GONE } from './classify.js';
import type { ProviderContext } from './context.js';
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

/** Verification statuses after which Twilio will never approve the verification. */
const DEAD_STATUSES = new Set(['canceled', 'max_attempts_reached', 'expired', 'deleted', 'failed']);


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
function httpClientClass(twilio: typeof TwilioSdk) {
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

/** Twilio's RFC 9457 exception is not exported by the SDK; recognise it by shape. */
function isServiceException(value: unknown): value is Error & { status: number; code: number } {
  return value instanceof Error && typeof (value as { status?: unknown }).status === 'number' && typeof (value as { code?: unknown }).code === 'number' && typeof (value as { title?: unknown }).title === 'string';
}

/** Turns whatever the SDK threw into a classified ProviderError without credentials in it. */
function toProviderError(error: unknown): ProviderError {
  if (error instanceof ProviderError) return classifyProviderError(PROVIDER, error);
  if ((sdk !== undefined && error instanceof sdk.RestException) || isServiceException(error)) {
    const code = typeof error.code === 'number' ? String(error.code) : undefined;
    return new ProviderError({
      provider: PROVIDER,
      kind: 'rejected',
      retryable: isRetryableCode(PROVIDER, code, error.status),
      providerCode: code,
      httpStatus: error.status,
      message: typeof error.message === 'string' && error.message !== '' ? error.message : `HTTP ${error.status}`,
      cause: error,
    });
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

function gone(error: unknown): boolean {
  return error instanceof ProviderError && error.kind === 'rejected' && error.providerCode !== undefined && TWILIO_GONE.has(error.providerCode);
}

export function twilioProvider(options: TwilioOptions, ctx: ProviderContext): OtpProvider {
  assertProviderSdk(PROVIDER);
  // With a custom httpClient the SDK ignores its own timeout/autoRetry options: set them here.
  // autoRetry stays off because the kit owns retries (a 429 is classified and queued instead).
  type Service = ReturnType<TwilioSdk.Twilio['verify']['v2']['services']>;
  // The client is made on the first call (the SDK is imported then), once per provider.
  const service = lazy(async (): Promise<Service> => {
    const twilio = await loadSdk();
    const HttpClient = httpClientClass(twilio);
    const httpClient = new HttpClient(options.baseUrl, { timeout: ctx.timeoutMs, autoRetry: false });
    return twilio(options.accountSid, options.authToken, { httpClient, autoRetry: false }).verify.v2.services(options.verifyServiceSid);
  });

  return {
    name: PROVIDER,
    channels: ['sms', 'call'],
    ownsCode: true,

    async send(input) {
      const channel = input.channel === 'call' ? 'call' : 'sms';
      let verification: { sid: unknown; status: unknown; channel: unknown };
      try {
        const verifications = (await service()).verifications;
        verification = await currentSignal.run(input.signal, () => verifications.create({ to: input.phone, channel }));
      } catch (error) {
        throw toProviderError(error);
      }
      if (typeof verification.sid !== 'string' || verification.sid === '' || typeof verification.status !== 'string') {
        throw badResponse('verification answer without sid or status');
      }
      return {
        ref: verification.sid,
        request: { to: input.phone, channel },
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
        // 20404: approved already, expired or deleted after too many checks.
        if (gone(failure)) return { status: 'gone' };
        throw failure;
      }
      const { status, valid } = result;
      if (typeof status !== 'string' || typeof valid !== 'boolean') throw badResponse('verification check answer without status or valid');
      if (status === 'approved' && valid) return { status: 'approved' };
      if (status === 'pending' && !valid) return { status: 'wrong' };
      if (DEAD_STATUSES.has(status)) return { status: 'gone' };
      throw badResponse(`verification check answered status "${status}" with valid=${String(valid)}`);
    },
  };
}
