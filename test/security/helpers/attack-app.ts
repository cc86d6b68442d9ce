/**
 * The attack suite's target: the example app (examples/app.ts) over real HTTP on a loopback port,
 * on a real database, with a recording provider (every provider call is kept, so a test can read
 * the code "from the phone" and prove that a refused send never reached a provider), every log
 * line and every event captured, and the kit's clock under the test's control.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { Express } from 'express';
import type { AddressInfo } from 'node:net';
import { describe, it, afterEach } from 'node:test';
import request from 'supertest';
import { createExampleApp } from '../../../examples/app.js';
import { createOtp, type Otp, type OtpEventMap, type OtpEventName, type OtpOptions } from '../../../lib/index.js';
import type { Channel, OtpProvider, ProviderSendInput } from '../../../lib/types.js';
import { DB_KINDS, forEachDatabase, type DbKind, type TestDatabase } from '../../helpers/db.js';
import { captureLogger, manualClock, TEST_SECRET, type ManualClock } from '../../helpers/kit.js';

export const EVENT_NAMES: readonly OtpEventName[] = [
  'requested',
  'sent',
  'failed',
  'retry-scheduled',
  'delivery-failed',
  'unsendable',
  'expired',
  'verified',
  'verify-failed',
  'limit-hit',
  'budget-exhausted',
  'send-refused',
  'number-locked',
  'range-held',
];

export interface RecordedEvent {
  readonly name: OtpEventName;
  readonly payload: OtpEventMap[OtpEventName];
}

export type Http = ReturnType<typeof request>;

export interface AttackApp {
  readonly otp: Otp;
  readonly db: TestDatabase;
  /** The example app itself. */
  readonly express: Express;
  readonly server: Server;
  /** supertest bound to the listening server. */
  readonly http: Http;
  readonly clock: ManualClock;
  /** Every call the recording provider got, in order. */
  readonly sends: ProviderSendInput[];
  readonly logs: string[];
  readonly events: RecordedEvent[];
  /** The code of the last delivery to `phone`. */
  codeFor(phone: string): string;
  sendsTo(phone: string): number;
  eventsNamed<K extends OtpEventName>(name: K): OtpEventMap[K][];
  close(): Promise<void>;
}

export interface AttackAppOptions {
  /** Example app environment (e.g. TRUST_PROXY). */
  readonly env?: Readonly<Record<string, string>>;
  /** Milliseconds the recording provider takes per send. */
  readonly providerDelayMs?: number;
  /** Keep the counters of earlier apps on this database (default: start from empty counters). */
  readonly keepCounters?: boolean;
  /** More providers next to the recording one (route them with the `providers` option). */
  readonly providers?: readonly OtpProvider[];
}

/** A provider that delivers nothing and remembers everything it was asked to deliver. */
export function recordingProvider(sends: ProviderSendInput[], delayMs = 0): OtpProvider {
  return {
    name: 'Recorder',
    channels: ['sms', 'call'] satisfies Channel[],
    ownsCode: false,
    async send(input) {
      sends.push(input);
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      return { ref: `rec-${input.requestId}` };
    },
  };
}

export async function startAttackApp(db: TestDatabase, options: OtpOptions = {}, extra: AttackAppOptions = {}): Promise<AttackApp> {
  const sends: ProviderSendInput[] = [];
  const logs: string[] = [];
  const events: RecordedEvent[] = [];
  const clock = manualClock(Date.now());
  const otp = createOtp({
    db: db.knex,
    secret: TEST_SECRET,
    providers: ['Recorder'],
    customProviders: [recordingProvider(sends, extra.providerDelayMs), ...(extra.providers ?? [])],
    logger: captureLogger(logs),
    clock: () => clock.now(),
    env: {},
    ...options,
  });
  await otp.migrate();
  if (extra.keepCounters !== true) {
    // Each test starts from empty counters (files run on databases of their own; tests in a file run in turn).
    await db.knex(otp.config.tables.limits).del();
    await db.knex(otp.config.tables.failures).del();
  }
  for (const name of EVENT_NAMES) otp.events.on(name, (payload) => events.push({ name, payload }));
  const app = createExampleApp(otp, extra.env ?? {});
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    otp,
    db,
    express: app,
    server,
    http: request(server),
    clock,
    sends,
    logs,
    events,
    codeFor(phone) {
      const last = sends.filter((s) => s.phone === phone).at(-1);
      assert.ok(last !== undefined, `no code was delivered to ${phone}`);
      return last.code;
    },
    sendsTo: (phone) => sends.filter((s) => s.phone === phone).length,
    eventsNamed<K extends OtpEventName>(name: K) {
      return events.filter((e) => e.name === name).map((e) => e.payload as OtpEventMap[K]);
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The URL of the listening server (for fetch-based load). */
export function urlOf(app: AttackApp): string {
  const { port } = app.server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

export interface SendOptionsHttp {
  readonly ip?: string;
  readonly purpose?: string;
  readonly channel?: Channel;
}

export function postSend(app: AttackApp, phone: string, o: SendOptionsHttp = {}) {
  const req = app.http.post(`/otp/${o.channel ?? 'sms'}`).set('Content-Type', 'application/json');
  if (o.ip !== undefined) void req.set('X-Forwarded-For', o.ip);
  return req.send({ phone, ...(o.purpose === undefined ? {} : { purpose: o.purpose }) });
}

export function postVerify(app: AttackApp, phone: string, code: string, o: { ip?: string; purpose?: string } = {}) {
  const req = app.http.post('/otp/verify').set('Content-Type', 'application/json');
  if (o.ip !== undefined) void req.set('X-Forwarded-For', o.ip);
  return req.send({ phone, code, ...(o.purpose === undefined ? {} : { purpose: o.purpose }) });
}

/** A 6-digit code different from `code` (the `n`-th such). */
export function wrongCode(code: string, n = 1): string {
  let candidate = (Number(code) + n * 7919) % 1_000_000;
  if (String(candidate).padStart(6, '0') === code) candidate = (candidate + 1) % 1_000_000;
  return String(candidate).padStart(6, '0');
}

/** Rows of the request table for a number. */
export async function requestRows(app: AttackApp, phone: string): Promise<Record<string, unknown>[]> {
  return (await app.db.knex(app.otp.config.tables.requests).where({ phone })) as Record<string, unknown>[];
}

/** The failure-budget count of a number (0 when it has no row). */
export async function failuresOf(app: AttackApp, phone: string): Promise<number> {
  const row = await app.db.knex(app.otp.config.tables.failures).where({ phone }).first<{ failures: unknown } | undefined>('failures');
  return row === undefined ? 0 : Number(row.failures);
}

/**
 * `forEachDatabase`, plus a visible note when MariaDB, the database the issue names, is missing
 * (the suite then still runs on the databases that answered).
 */
export function onAttackDatabases(title: string, fn: (get: () => TestDatabase, kind: DbKind) => void): void {
  if (!DB_KINDS.includes('mysql')) {
    void describe(`${title} [mysql]`, () => {
      void it('runs on MariaDB', { skip: 'MariaDB is not reachable (OTP_TEST_MYSQL_URL); the suite ran on the other databases only' }, () => {});
    });
  }
  forEachDatabase(title, fn);
}

/**
 * A `start(options, extra)` for one suite: each call starts an attack app on the suite's database,
 * and every app started in a test is closed after it.
 */
export function attackAppStarter(db: () => TestDatabase): (options?: OtpOptions, extra?: AttackAppOptions) => Promise<AttackApp> {
  const apps: AttackApp[] = [];
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });
  return async (options = {}, extra = {}) => {
    const app = await startAttackApp(db(), options, extra);
    apps.push(app);
    return app;
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
