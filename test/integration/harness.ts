import { after, before } from 'node:test';
/**
 * Shared parts of the end-to-end provider suites: the three loopback provider fakes, the example
 * app built by `createOtp` from an environment block alone (as `npm start` would read it), HTTP
 * helpers for the contract's routes, and readers for what the fakes and the request rows saw.
 */
import assert from 'node:assert/strict';
import type { Express } from 'express';
import type { Knex } from 'knex';
import request from 'supertest';
import { createExampleApp } from '../../examples/app.js';
import { createOtp, type Otp, type OtpOptions } from '../../lib/index.js';
import type { Channel, Logger } from '../../lib/types.js';
import { startMadaFake, type MadaFake } from '../helpers/fakes/mada-fake.js';
import { startSinchFake, type SinchFake } from '../helpers/fakes/sinch-fake.js';
import { startTwilioFake, type TwilioFake } from '../helpers/fakes/twilio-fake.js';

export const SECRET = 'integration-test-secret-0123456789-abcdefghij';
export const PURPOSE = 'delete-account';
export type ProviderName = 'Twilio' | 'Sinch' | 'Mada';

export interface Fakes {
  readonly twilio: TwilioFake;
  readonly sinch: SinchFake;
  readonly mada: MadaFake;
  /** Forgets requests, live verifications and configured misbehaviour of all three. */
  reset(): void;
  /** Asserts that nothing the kit sent broke a provider's protocol. */
  assertNoProtocolProblems(): void;
  /** The code the provider delivered to `phone` (what the SMS or the call said). */
  codeFor(provider: ProviderName, phone: string): string;
  /** Send requests (Twilio Verifications, Sinch starts, Mada SubmitSM) for `phone`. */
  sendsTo(provider: ProviderName, phone: string): number;
  /** Code checks (Twilio VerificationCheck, Sinch reports) for `phone`; Mada has none. */
  checksOf(provider: 'Twilio' | 'Sinch', phone: string): { readonly code: string | undefined; readonly method: string | undefined }[];
  close(): Promise<void>;
}

/** Starts the three fakes before the file's tests and closes them after; returns a getter. */
export function useFakes(): () => Fakes {
  let fakes: Fakes | undefined;
  before(async () => {
    fakes = await startFakes();
  });
  after(async () => {
    await fakes?.close();
  });
  return () => {
    if (fakes === undefined) throw new Error('fakes not started');
    return fakes;
  };
}

export async function startFakes(): Promise<Fakes> {
  // The providers import their SDK on first use. The Sinch fake no longer loads @sinch/sdk-core (it
  // checks signatures itself), so load it here: a first send must not race a cold 36 MB import
  // against a short providerTimeoutMs.
  await import('@sinch/sdk-core');
  // Sinch codes default to 4 digits in the fake; the kit verifies codes of its codeLength (6).
  const [twilio, sinch, mada] = await Promise.all([startTwilioFake(), startSinchFake({ codeLength: 6 }), startMadaFake({ sourceName: 'MyBrand' })]);
  const digits = (phone: string): string => phone.slice(1);
  return {
    twilio,
    sinch,
    mada,
    reset() {
      twilio.reset();
      sinch.reset();
      mada.reset();
      mada.setReplies([], 0);
    },
    assertNoProtocolProblems() {
      assert.deepEqual(sinch.problems, [], 'the Sinch fake saw protocol problems');
      for (const r of mada.requests) assert.deepEqual(r.problems, [], 'the Mada fake saw a malformed SubmitSM');
      for (const r of twilio.requests) assert.notEqual(r.op, 'unknown', `the Twilio fake saw an unknown request ${r.method} ${r.path}`);
    },
    codeFor(provider, phone) {
      const code = provider === 'Twilio' ? twilio.codeFor(phone) : provider === 'Sinch' ? sinch.codeFor(phone) : mada.lastCodeTo(phone);
      assert.ok(code !== undefined, `${provider} delivered no code to ${phone}`);
      return code;
    },
    sendsTo(provider, phone) {
      if (provider === 'Twilio') return twilio.requests.filter((r) => r.op === 'send' && r.form.To === phone).length;
      if (provider === 'Sinch') {
        return sinch.requests.filter((r) => r.operation === 'start' && JSON.stringify(r.body).includes(`"endpoint":"${phone}"`)).length;
      }
      return mada.requests.filter((r) => r.destination?.addr === digits(phone)).length;
    },
    checksOf(provider, phone) {
      if (provider === 'Twilio') {
        return twilio.requests.filter((r) => r.op === 'check' && r.form.To === phone).map((r) => ({ code: r.form.Code, method: undefined }));
      }
      return sinch.requests
        .filter((r) => r.operation === 'report' && r.phone === phone)
        .map((r) => {
          const body = r.body as { method?: string; sms?: { code?: string }; callout?: { code?: string } };
          return { code: body.sms?.code ?? body.callout?.code, method: body.method };
        });
    },
    async close() {
      await Promise.all([twilio.close(), sinch.close(), mada.close()]);
    },
  };
}

/**
 * The example app's environment pointing at the fakes: exactly the contract's variable names.
 * `routing` becomes OTP_SMS_PROVIDER; leave it out to route by the settings row.
 */
export function fakeEnv(fakes: Fakes, routing?: string): Record<string, string> {
  return {
    OTP_SECRET: SECRET,
    TWILIO_ACCOUNT_SID: fakes.twilio.accountSid,
    TWILIO_AUTH_TOKEN: fakes.twilio.authToken,
    TWILIO_VERIFY_SERVICE_SID: fakes.twilio.serviceSid,
    TWILIO_BASE_URL: fakes.twilio.url,
    SINCH_APPLICATION_KEY: fakes.sinch.applicationKey,
    SINCH_APPLICATION_SECRET: fakes.sinch.applicationSecret,
    SINCH_BASE_URL: fakes.sinch.url,
    MADA_URL: fakes.mada.url,
    MADA_USERNAME: fakes.mada.username,
    MADA_PASSWORD: fakes.mada.password,
    MADA_SOURCE_NAME: 'MyBrand',
    // supertest connects from 127.0.0.1; each kit's requests carry their own X-Forwarded-For.
    TRUST_PROXY: 'loopback',
    ...(routing === undefined ? {} : { OTP_SMS_PROVIDER: routing }),
  };
}

/**
 * Every secret of the environment block (and the Basic-auth headers built from them), for leak
 * checks. Identifiers that are not secrets on their own (Twilio Account SID, Sinch application
 * key, Mada user name) are not listed.
 */
export function secretsOf(fakes: Fakes): string[] {
  return [
    fakes.twilio.authToken,
    fakes.sinch.applicationSecret,
    fakes.mada.password,
    Buffer.from(`${fakes.mada.username}:${fakes.mada.password}`).toString('base64'),
    Buffer.from(`${fakes.twilio.accountSid}:${fakes.twilio.authToken}`).toString('base64'),
    SECRET,
  ];
}

/** Asserts `text` holds none of `secrets`, not the code and not the full number (with or without `+`). */
export function assertRedacted(text: string | null, what: string, leaks: { secrets: readonly string[]; phone: string; code?: string | undefined }): void {
  if (text === null) return;
  for (const secret of leaks.secrets) assert.ok(!text.includes(secret), `${what} leaks a secret (${secret.slice(0, 4)}…): ${text}`);
  assert.ok(!text.includes(leaks.phone.slice(1)), `${what} leaks the full number ${leaks.phone}: ${text}`);
  if (leaks.code !== undefined) assert.ok(!new RegExp(`(?<![0-9])${leaks.code}(?![0-9])`).test(text), `${what} leaks the code ${leaks.code}: ${text}`);
}

/** A clock the test moves by hand (epoch ms). */
export interface TestClock {
  (): number;
  advance(ms: number): void;
}

export function testClock(start = Date.now()): TestClock {
  let now = start;
  const clock = (() => now) as TestClock;
  clock.advance = (ms) => {
    now += ms;
  };
  return clock;
}

/** A logger that keeps every line as JSON text, so tests can look for leaks. */
export function recordingLogger(): Logger & { readonly lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (obj: object | string, msg?: string) => {
    lines.push(JSON.stringify({ level, obj, msg }));
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export interface Kit {
  readonly otp: Otp;
  readonly app: Express;
  readonly logs: string[];
  /** The client address of this kit's requests (X-Forwarded-For). */
  readonly ip: string;
}

/**
 * Each kit's requests come from an address of their own, so the kit's default abuse limits (per-IP
 * send and verify windows, counted in the database) apply as they would to one real client.
 */
const clientIps = new WeakMap<Express, string>();
let kits = 0;

/**
 * `createOtp({ db, env })` plus the example app: providers, routing and secret come from `env`
 * only. `options` are the test seams (clock, timeout, settings refresh).
 */
export function startKit(knex: Knex, env: Record<string, string>, options: Pick<OtpOptions, 'clock' | 'providerTimeoutMs' | 'settingsRefreshSeconds' | 'retention'> = {}): Kit {
  const logger = recordingLogger();
  const otp = createOtp({ db: knex, env, logger, ...options });
  const app = createExampleApp(otp, env);
  kits += 1;
  const ip = `10.0.${Math.floor(kits / 250)}.${(kits % 250) + 1}`;
  clientIps.set(app, ip);
  return { otp, app, logs: logger.lines, ip };
}

function post(app: Express, path: string): request.Test {
  return request(app).post(path).set('X-Forwarded-For', clientIps.get(app) ?? '10.255.255.1');
}

export function send(app: Express, channel: Channel, phone: string, purpose: string = PURPOSE): request.Test {
  return post(app, `/otp/${channel}`).send({ phone, purpose });
}

export function verify(app: Express, phone: string, code: string): request.Test {
  return post(app, '/otp/verify').send({ phone, code });
}

export function deleteAccount(app: Express, token: string): request.Test {
  return post(app, '/account/delete').set('Authorization', `Bearer ${token}`).send({});
}

/** Sends and asserts the contract's 202; returns the request id. */
export async function sendAccepted(app: Express, channel: Channel, phone: string): Promise<string> {
  const res = await send(app, channel, phone);
  assert.equal(res.status, 202, `send ${channel} to ${phone}: ${res.status} ${JSON.stringify(res.body)}`);
  const body = res.body as { requestId: string; channel: string; status: string; expiresAt: string };
  assert.equal(body.channel, channel);
  assert.equal(body.status, 'sent');
  assert.match(body.requestId, /^[0-9a-f-]{36}$/);
  assert.ok(!Number.isNaN(Date.parse(body.expiresAt)));
  assert.equal(Object.hasOwn(body, 'code'), false, 'the code is never sent over HTTP');
  return body.requestId;
}

/** Verifies the right code, then spends the token on the guarded route. */
export async function verifyAndDelete(app: Express, phone: string, code: string): Promise<void> {
  const res = await verify(app, phone, code);
  assert.equal(res.status, 200, `verify ${phone}: ${res.status} ${JSON.stringify(res.body)}`);
  const body = res.body as { requestValid: boolean; codeValid: boolean; token: string };
  assert.equal(body.requestValid, true);
  assert.equal(body.codeValid, true);
  assert.equal(typeof body.token, 'string');
  const deleted = await deleteAccount(app, body.token);
  assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
  assert.deepEqual(deleted.body, { deleted: true, phone });
}

/** The error body of a failed call: `{ error: { code, message }, requestValid?, codeValid? }`. */
export function errorOf(res: request.Response): { code: string; message: string; requestValid?: boolean; codeValid?: boolean; attemptsLeft?: number; channel?: string } {
  const body = res.body as { error?: { code: string; message: string; attemptsLeft?: number; channel?: string }; requestValid?: boolean; codeValid?: boolean };
  assert.ok(body.error !== undefined, `expected an error body, got ${res.status} ${JSON.stringify(res.body)}`);
  return { ...body.error, ...(body.requestValid === undefined ? {} : { requestValid: body.requestValid }), ...(body.codeValid === undefined ? {} : { codeValid: body.codeValid }) };
}

export interface StoredRequest {
  readonly provider: string | null;
  readonly providerRef: string | null;
  readonly codeOwner: string;
  readonly status: string;
  readonly chain: string;
  readonly lastError: string | null;
  readonly providerRequest: string | null;
  readonly providerResponse: string | null;
  readonly attempts: number;
}

export async function storedRequest(knex: Knex, requestId: string): Promise<StoredRequest> {
  const row: Record<string, unknown> | undefined = await knex('otp_requests').where({ request_id: requestId }).first();
  assert.ok(row !== undefined, `no request row ${requestId}`);
  const str = (v: unknown): string | null => (v === null || v === undefined ? null : typeof v === 'string' ? v : JSON.stringify(v));
  return {
    provider: str(row.provider),
    providerRef: str(row.provider_ref),
    codeOwner: String(row.code_owner),
    status: String(row.status),
    chain: String(row.chain),
    lastError: str(row.last_error),
    providerRequest: str(row.provider_request),
    providerResponse: str(row.provider_response),
    attempts: Number(row.attempts),
  };
}

/** The newest request row of a number (for sends that answered an error without a request id). */
export async function latestRequestOf(knex: Knex, phone: string): Promise<StoredRequest & { requestId: string }> {
  const row: { request_id: string } | undefined = await knex('otp_requests').where({ phone }).orderBy('id', 'desc').first('request_id');
  assert.ok(row !== undefined, `no request row for ${phone}`);
  return { ...(await storedRequest(knex, row.request_id)), requestId: row.request_id };
}

export async function rowCount(knex: Knex, phone: string): Promise<number> {
  const rows: { n: number | string }[] = await knex('otp_requests').where({ phone }).count({ n: '*' });
  return Number(rows[0]?.n ?? 0);
}

let serial = 0;
/**
 * A fresh valid mobile number per call, so tests never share a live request or a provider-side
 * verification: `+35987…` and `+35988…` (the Mada prefixes of the contract), `+35989…`, `+4670…`.
 */
export function phone(prefix: '+35987' | '+35988' | '+35989' | '+4670'): string {
  serial += 1;
  return `${prefix}${String(1_000_000 + serial * 7919).slice(-7)}`;
}

/** A code of the same length that is not `code`. */
export function wrongCode(code: string): string {
  return String((Number(code) + 1) % 10 ** code.length).padStart(code.length, '0');
}

/** Waits until `predicate` holds (polling), failing after `timeoutMs`. */
export async function eventually(predicate: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
