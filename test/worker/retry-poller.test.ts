/**
 * The retry poller in one process, on every database, with an injected clock: the backoff
 * sequence, the cap, the expiry cut-off, exactly 1 + maxRetries attempts, permanent errors,
 * fencing of a worker whose lease was taken over, stop(), and option validation.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import request from 'supertest';
import express from 'express';
import { OtpError, otpErrorHandler, otpRouter, type Otp, type OtpProvider, type ProviderSendInput, type RetryPoller } from '../../lib/index.js';
import { ProviderError } from '../../lib/providers/provider-error.js';
import { toRequestRow, type RequestRow } from '../../lib/storage/request-row.js';
import { supportsSkipLocked } from '../../lib/storage/retry-queries.js';
import { internalsOf } from '../../lib/service/internals.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit, type TestKit } from '../helpers/kit.js';
import { recordingProvider } from '../helpers/providers.js';
import { insertDueRequest, nextEvent, sleep, waitFor } from '../helpers/worker-utils.js';

const PHONE = '+359871234567';
const PHONES = ['+359881000001', '+359881000002', '+359881000003'];
const POLL = { pollInterval: 10 } as const;

async function rowOf(otp: Otp, requestId: string): Promise<RequestRow> {
  const raw = (await otp.knex('otp_requests').where({ request_id: requestId }).first()) as Record<string, unknown> | undefined;
  assert.ok(raw !== undefined, `row ${requestId} exists`);
  return toRequestRow(raw);
}

async function rawRow(otp: Otp, requestId: string): Promise<Record<string, unknown>> {
  return (await otp.knex('otp_requests').where({ request_id: requestId }).first()) as Record<string, unknown>;
}

/** A provider whose calls wait for `release()` (one gate for all calls so far). */
interface GateProvider extends OtpProvider {
  readonly calls: ProviderSendInput[];
  /** Resolves the waiting calls with this ref. */
  release(ref: string): void;
  /** The first call fails (retryable) instead of waiting: the send path queues the row. */
  failFirst: boolean;
}

function gateProvider(name: string): GateProvider {
  let open: ((ref: string) => void) | undefined;
  let gate = new Promise<string>((resolve) => {
    open = resolve;
  });
  const provider: GateProvider = {
    name,
    channels: ['sms', 'call'],
    ownsCode: false,
    calls: [],
    failFirst: false,
    async send(input) {
      provider.calls.push(input);
      if (provider.failFirst && provider.calls.length === 1) {
        throw new ProviderError({ provider: name, kind: 'rejected', retryable: true, message: 'throttled', httpStatus: 429 });
      }
      return { ref: await gate };
    },
    release(ref) {
      open?.(ref);
      gate = new Promise<string>((resolve) => {
        open = resolve;
      });
    },
  };
  return provider;
}

async function expectOtpError(fn: () => unknown, code: string, pattern: RegExp): Promise<void> {
  try {
    await fn();
  } catch (error) {
    assert.ok(error instanceof OtpError, `expected an OtpError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return;
  }
  assert.fail(`expected OtpError ${code}`);
}

forEachDatabase('retry poller', (db) => {
  const pollers: RetryPoller[] = [];
  const start = (kit: TestKit | Otp, options = {}): RetryPoller => {
    const otp = 'otp' in kit ? kit.otp : kit;
    const poller = otp.startRetryPoller({ ...POLL, ...options });
    pollers.push(poller);
    return poller;
  };

  // Each test starts on an empty table and leaves no poller running.
  beforeEach(async () => {
    if (await db().knex.schema.hasTable('otp_requests')) await db().knex('otp_requests').del();
  });
  afterEach(async () => {
    await Promise.all(pollers.splice(0).map((p) => p.stop()));
  });

  it('send path: all providers fail, retry on → 202 and the row waits in the table; retry off → 503 and the row is failed', async () => {
    const broken = recordingProvider('Broken');
    broken.plan = ['retryable'];
    const on = await createTestKit(db(), { limits: false, providers: ['Broken'], customProviders: [broken], sms: { retry: true, maxRetries: 3 } });
    const app = express().use('/otp', otpRouter(on.otp)).use(otpErrorHandler());
    const accepted = await request(app).post('/otp/sms').send({ phone: PHONE }).expect(202);
    assert.equal(accepted.body.status, 'queued');
    const row = await rowOf(on.otp, accepted.body.requestId);
    assert.equal(row.status, 'queued');
    assert.equal(row.sendAttempts, 1);
    assert.equal(row.leaseToken, null, 'the request path released its lease');
    assert.ok(row.codeCipher !== null, 'the sealed code is kept for the retry');
    assert.ok(row.nextAttemptAt !== null && row.nextAttemptAt >= on.clock.now() + 250 && row.nextAttemptAt <= on.clock.now() + 500, `first retry 0.25-0.5 s later, got ${String(row.nextAttemptAt)}`);

    const off = await createTestKit(db(), { limits: false, providers: ['Broken'], customProviders: [broken], sms: { retry: false } });
    const offApp = express().use('/otp', otpRouter(off.otp)).use(otpErrorHandler());
    const refused = await request(offApp).post('/otp/sms').send({ phone: PHONES[0] }).expect(503);
    assert.equal(refused.body.error.code, 'PROVIDER_UNAVAILABLE');
    const failed = await off.otp.knex('otp_requests').where({ phone: PHONES[0] }).first();
    assert.equal(failed.status, 'failed');
    assert.equal(failed.next_attempt_at, null, 'a failed row is never picked up');
    assert.equal(failed.code_cipher, null);
  });

  it('backs off 0.5 s, 1 s, 2 s, 4 s, 8 s with jitter, then marks the row unsendable after exactly 1 + maxRetries attempts', async () => {
    const provider = recordingProvider('Flaky');
    provider.plan = ['retryable'];
    const kit = await createTestKit(db(), { limits: false, providers: ['Flaky'], customProviders: [provider], sms: { retry: true, maxRetries: 5 } });
    // A listener that throws must not break the poller.
    kit.otp.events.on('retry-scheduled', () => {
      throw new Error('listener bug');
    });
    start(kit);
    let next: Promise<{ attempt: number; delayMs: number; nextAttemptAt: Date } | { attempts: number }> = nextEvent(kit.otp.events, 'retry-scheduled');
    const sent = await kit.otp.sendSms(PHONE);
    assert.equal(sent.status, 'queued');
    assert.equal(sent.provider, null);

    const delays: number[] = [];
    for (let retry = 1; retry <= 5; retry += 1) {
      const event = (await next) as { attempt: number; delayMs: number; nextAttemptAt: Date };
      assert.equal(event.attempt, retry);
      const raw = 500 * 2 ** (retry - 1);
      assert.ok(event.delayMs >= raw / 2 && event.delayMs <= raw, `retry ${retry}: delay ${event.delayMs} ms within [${raw / 2}, ${raw}]`);
      assert.equal(event.nextAttemptAt.getTime(), kit.clock.now() + event.delayMs);
      delays.push(event.delayMs);
      const row = await rowOf(kit.otp, sent.requestId);
      assert.deepEqual([row.status, row.sendAttempts, row.nextAttemptAt, row.leaseToken], ['queued', retry, event.nextAttemptAt.getTime(), null]);

      // One millisecond early nothing happens, however often the poller looks.
      kit.clock.set(event.nextAttemptAt.getTime() - 1);
      await sleep(60);
      assert.equal(provider.calls.length, retry, `no attempt before the row is due (retry ${retry})`);

      next = retry < 5 ? nextEvent(kit.otp.events, 'retry-scheduled') : nextEvent(kit.otp.events, 'unsendable');
      kit.clock.set(event.nextAttemptAt.getTime());
    }
    const unsendable = (await next) as { attempts: number };
    assert.equal(unsendable.attempts, 6);
    assert.equal(provider.calls.length, 6, 'exactly 1 + maxRetries attempts');
    assert.ok(delays.every((d, i) => i === 0 || d > (delays[i - 1] ?? 0) / 2), 'delays grow');

    const row = await rowOf(kit.otp, sent.requestId);
    assert.deepEqual([row.status, row.sendAttempts, row.nextAttemptAt, row.leaseToken, row.codeCipher], ['unsendable', 6, null, null, null]);
    assert.match(row.lastError ?? '', /throttled/);
    // Retries keep the same code and the same text.
    assert.equal(new Set(provider.calls.map((c) => c.code)).size, 1);
    assert.equal(new Set(provider.calls.map((c) => c.text)).size, 1);
    assert.match(provider.calls[0]?.text ?? '', /code is [0-9]{6}$/);

    kit.clock.advance(3_600_000);
    await sleep(60);
    assert.equal(provider.calls.length, 6, 'an unsendable row is never tried again');
    assert.ok(kit.logs.some((l) => l.includes('otp event listener threw')), 'the throwing listener was logged');
  });

  it('caps every delay at maxDelayMs', async () => {
    const provider = recordingProvider('Flaky');
    provider.plan = ['retryable'];
    const kit = await createTestKit(db(), { limits: false, providers: ['Flaky'], customProviders: [provider], sms: { retry: true, maxRetries: 6, baseDelayMs: 500, maxDelayMs: 1500 }, ttlSeconds: 600 });
    start(kit);
    const delays: number[] = [];
    kit.otp.events.on('retry-scheduled', (e) => {
      delays.push(e.delayMs);
      // Jump straight to the due time: the next attempt follows within a poll.
      kit.clock.set(e.nextAttemptAt.getTime());
    });
    const done = nextEvent(kit.otp.events, 'unsendable');
    await kit.otp.sendSms(PHONE);
    assert.equal((await done).attempts, 7);
    assert.equal(delays.length, 6);
    const raws = [500, 1000, 1500, 1500, 1500, 1500];
    delays.forEach((d, i) => {
      const raw = raws[i] ?? 0;
      assert.ok(d >= raw / 2 && d <= raw, `delay ${i + 1}: ${d} ms within [${raw / 2}, ${raw}]`);
    });
  });

  it('with maxRetries 0 the first failure is final: one attempt, unsendable, 503', async () => {
    const provider = recordingProvider('Flaky');
    provider.plan = ['retryable'];
    const kit = await createTestKit(db(), { limits: false, providers: ['Flaky'], customProviders: [provider], sms: { retry: true, maxRetries: 0 } });
    start(kit);
    await expectOtpError(() => kit.otp.sendSms(PHONE), 'PROVIDER_UNAVAILABLE', /could not be delivered/);
    const raw = await kit.otp.knex('otp_requests').where({ phone: PHONE }).first();
    assert.deepEqual([raw.status, Number(raw.send_attempts), raw.next_attempt_at], ['unsendable', 1, null]);
    kit.clock.advance(60_000);
    await sleep(60);
    assert.equal(provider.calls.length, 1);
  });

  it('does not keep the process alive (unref’d timers)', async () => {
    const kit = await createTestKit(db(), { limits: false, sms: { retry: true } });
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    await sleep(20);
    const before = timers();
    const poller = start(kit);
    await sleep(100);
    assert.equal(timers(), before, 'an idle poller holds no ref’d timer');
    await poller.stop();
  });

  it('marks a row whose code expired while it waited as expired and never sends it', async () => {
    const provider = recordingProvider('Flaky');
    provider.plan = ['retryable'];
    const kit = await createTestKit(db(), { limits: false, providers: ['Flaky'], customProviders: [provider], sms: { retry: true, maxRetries: 5 }, ttlSeconds: 60 });
    start(kit);
    const sent = await kit.otp.sendSms(PHONE);
    assert.equal(provider.calls.length, 1);
    provider.plan = ['ok'];
    const expired = nextEvent(kit.otp.events, 'expired');
    kit.clock.set(sent.expiresAt.getTime());
    assert.deepEqual(await expired, { requestId: sent.requestId, attempts: 1 });
    assert.equal(provider.calls.length, 1, 'not sent after the expiry');
    const row = await rowOf(kit.otp, sent.requestId);
    assert.deepEqual([row.status, row.nextAttemptAt, row.leaseToken, row.codeCipher], ['expired', null, null, null]);
  });

  it('does not schedule a retry that would fall after the expiry', async () => {
    const provider = recordingProvider('Flaky');
    provider.plan = ['retryable'];
    const kit = await createTestKit(db(), { limits: false, providers: ['Flaky'], customProviders: [provider], sms: { retry: true, maxRetries: 5, baseDelayMs: 20_000, maxDelayMs: 60_000 }, ttlSeconds: 60 });
    start(kit);
    const t0 = kit.clock.now();
    const sent = await kit.otp.sendSms(PHONE);
    const expired = nextEvent(kit.otp.events, 'expired');
    // Due (the first delay is at most 20 s) and alive; the second delay (≥ 20 s) would end after the TTL.
    kit.clock.set(t0 + 55_000);
    assert.deepEqual(await expired, { requestId: sent.requestId, attempts: 2 });
    assert.equal(provider.calls.length, 2);
    assert.equal((await rowOf(kit.otp, sent.requestId)).status, 'expired');
  });

  it('does not hand the code to the next provider once a slow provider outlived it', async () => {
    const at: { kit?: TestKit; expiresAt: number } = { expiresAt: 0 };
    // Slow fails only after the code's lifetime is over (the injected clock stands in for the wait).
    const slow: OtpProvider = {
      name: 'Slow',
      channels: ['sms'],
      ownsCode: false,
      send() {
        at.kit?.clock.set(at.expiresAt);
        return Promise.reject(new ProviderError({ provider: 'Slow', kind: 'timeout', retryable: true, message: 'no answer within the timeout' }));
      },
    };
    const next = recordingProvider('Next');
    const kit = await createTestKit(db(), { limits: false, providers: ['Slow', 'Next'], customProviders: [slow, next], sms: { retry: true }, ttlSeconds: 60 });
    at.kit = kit;
    at.expiresAt = kit.clock.now() + 60_000;
    const expired = nextEvent(kit.otp.events, 'expired');
    await expectOtpError(() => kit.otp.sendSms(PHONE), 'PROVIDER_UNAVAILABLE', /could not be delivered/);
    assert.equal((await expired).attempts, 1);
    assert.equal(next.calls.length, 0, 'the second provider was never given the expired code');
    const raw = await kit.otp.knex('otp_requests').where({ phone: PHONE }).first();
    assert.deepEqual([raw.status, raw.next_attempt_at, raw.code_cipher], ['expired', null, null]);
  });

  it('keeps polling through a database outage and resumes by itself', async () => {
    const provider = recordingProvider('Ok');
    const logs: string[] = [];
    const kit = await createTestKit(db(), { limits: false, providers: ['Ok'], customProviders: [provider], sms: { retry: true } });
    const due = await insertDueRequest(kit.otp, { phone: PHONE, chain: ['Ok'], now: kit.clock.now() });
    // The outage: the table is gone for a while, so every claim fails with a real driver error.
    await kit.otp.knex.schema.renameTable('otp_requests', 'otp_requests_away');
    try {
      start(kit, { logger: { warn: () => undefined, error: (obj: object | string) => logs.push(JSON.stringify(obj)) } });
      await waitFor('failed claims to be logged', () => logs.length >= 3);
      await sleep(100);
    } finally {
      await kit.otp.knex.schema.renameTable('otp_requests_away', 'otp_requests');
    }
    assert.equal(provider.calls.length, 0);
    assert.match(logs[0] ?? '', /otp_requests/);
    // 10 ms polls doubling per failure: a handful of errors, not one every 10 ms.
    assert.ok(logs.length <= 10, `claims back off while the database fails (${logs.length} errors logged)`);
    await waitFor('the row to be sent after the outage', async () => (await rowOf(kit.otp, due.requestId)).status === 'sent', 5000);
  });

  it('does not retry a permanent error', async () => {
    const provider = recordingProvider('Strict');
    provider.plan = ['permanent'];
    const kit = await createTestKit(db(), { limits: false, providers: ['Strict'], customProviders: [provider], sms: { retry: true, maxRetries: 5 } });
    start(kit);
    await expectOtpError(() => kit.otp.sendSms(PHONE), 'PROVIDER_UNAVAILABLE', /could not be delivered/);
    const raw = await kit.otp.knex('otp_requests').where({ phone: PHONE }).first();
    assert.deepEqual([raw.status, raw.next_attempt_at, Number(raw.send_attempts)], ['failed', null, 1]);
    kit.clock.advance(120_000);
    await sleep(60);
    assert.equal(provider.calls.length, 1);
  });

  it('never sends a queued row that a newer request for the same number superseded', async () => {
    const provider = recordingProvider('Flaky');
    provider.plan = ['retryable'];
    const kit = await createTestKit(db(), { limits: false, providers: ['Flaky'], customProviders: [provider], sms: { retry: true, maxRetries: 5 } });
    const old = await kit.otp.sendSms(PHONE);
    provider.plan = ['ok'];
    const fresh = await kit.otp.sendSms(PHONE);
    assert.equal(fresh.status, 'sent');
    const expired = nextEvent(kit.otp.events, 'expired');
    start(kit);
    kit.clock.advance(1000);
    assert.equal((await expired).requestId, old.requestId);
    assert.equal(provider.calls.length, 2, 'the superseded code was not sent again');
    const row = await rowOf(kit.otp, old.requestId);
    assert.deepEqual([row.status, row.leaseToken], ['expired', null]);
    assert.match(row.lastError ?? '', /superseded/);
  });

  it('fences results: a worker whose lease was taken over cannot overwrite the new holder', async () => {
    const slow = gateProvider('Gate');
    slow.failFirst = true;
    const a = await createTestKit(db(), { limits: false, providers: ['Gate'], customProviders: [slow], sms: { retry: true, maxRetries: 5 } });
    const fast = recordingProvider('Gate');
    const b = await createTestKit(db(), { limits: false, providers: ['Gate'], customProviders: [fast], sms: { retry: true, maxRetries: 5 }, clock: () => a.clock.now() });
    const sent = await a.otp.sendSms(PHONE);
    assert.equal(sent.status, 'queued');
    const aSent: string[] = [];
    a.otp.events.on('sent', (e) => aSent.push(e.requestId));

    // One slot: while its call hangs, A cannot claim the row again itself once the lease runs out.
    const pollerA = start(a, { concurrency: 1 });
    a.clock.advance(1000);
    await waitFor('A to call the provider', () => slow.calls.length === 2);
    const leased = await rawRow(a.otp, sent.requestId);
    assert.equal(leased.status, 'sending');
    assert.equal(leased.lease_owner, internalsOf(a.otp).instanceId);
    const leaseMs = Number(leased.lease_expires_at) - a.clock.now();
    assert.equal(leaseMs, 1 * 10_000 + 5_000, 'one provider timeout plus slack');

    // A's lease runs out while its call hangs; B takes the row over and delivers it.
    a.clock.advance(leaseMs);
    const bSent = nextEvent(b.otp.events, 'sent');
    start(b);
    assert.equal((await bSent).requestId, sent.requestId);
    const afterB = await rowOf(b.otp, sent.requestId);
    assert.deepEqual([afterB.status, afterB.providerRef, afterB.leaseToken], ['sent', 'Gate-1', null]);

    // A's call finally answers: its write is fenced off.
    slow.release('late-ref');
    await pollerA.stop();
    const final = await rowOf(a.otp, sent.requestId);
    assert.deepEqual([final.status, final.providerRef, final.sendAttempts], ['sent', 'Gate-1', 2]);
    assert.deepEqual(aSent, [], 'A reports nothing it did not write');
    // The code both tried is the one that verifies.
    assert.equal(slow.calls[1]?.code, fast.calls[0]?.code);
    assert.equal((await b.otp.verify(PHONE, fast.calls[0]?.code ?? '')).codeValid, true);
  });

  it('leases a row long enough for its whole chain', async () => {
    const gate = gateProvider('Gate');
    const kit = await createTestKit(db(), { limits: false, providers: ['Gate'], customProviders: [gate, recordingProvider('Two'), recordingProvider('Three')], sms: { retry: true }, providerTimeoutMs: 2000 });
    const due = await insertDueRequest(kit.otp, { phone: PHONE, chain: ['Gate', 'Two', 'Three'], now: kit.clock.now() });
    const poller = start(kit);
    await waitFor('the attempt to start', () => gate.calls.length === 1);
    const raw = await rawRow(kit.otp, due.requestId);
    assert.equal(Number(raw.lease_expires_at) - kit.clock.now(), 3 * 2000 + 5000, 'the claim was extended for a 3-provider chain');
    gate.release('ok-ref');
    await poller.stop();
    assert.equal((await rowOf(kit.otp, due.requestId)).status, 'sent');
    assert.equal(gate.calls[0]?.code, due.code);
  });

  it('stop() waits for in-flight sends', async () => {
    const gate = gateProvider('Gate');
    const kit = await createTestKit(db(), { limits: false, providers: ['Gate'], customProviders: [gate], sms: { retry: true } });
    const due = await insertDueRequest(kit.otp, { phone: PHONE, chain: ['Gate'], now: kit.clock.now() });
    const poller = start(kit);
    await waitFor('the attempt to start', () => gate.calls.length === 1);
    let stopped = false;
    const stopping = poller.stop().then(() => {
      stopped = true;
    });
    await sleep(50);
    assert.equal(stopped, false, 'stop() waits for the call in flight');
    gate.release('ref-1');
    await stopping;
    const row = await rowOf(kit.otp, due.requestId);
    assert.deepEqual([row.status, row.providerRef, row.leaseToken], ['sent', 'ref-1', null]);
  });

  it('stop() during a claim hands the claimed rows back unstarted', async () => {
    const provider = recordingProvider('Ok');
    const kit = await createTestKit(db(), { limits: false, providers: ['Ok'], customProviders: [provider], sms: { retry: true } });
    for (const phone of PHONES) await insertDueRequest(kit.otp, { phone, chain: ['Ok'], now: kit.clock.now() });
    let stopping: Promise<void> | undefined;
    let poller: RetryPoller | undefined;
    const onQuery = (q: { sql: string }): void => {
      // The claim statement has been sent: stop now, before its rows come back.
      if (stopping === undefined && poller !== undefined && /skip locked|^update .+ where .id. in \(select/i.test(q.sql)) stopping = poller.stop();
    };
    kit.otp.knex.on('query', onQuery);
    try {
      poller = kit.otp.startRetryPoller(POLL);
      await waitFor('the claim to start', () => stopping !== undefined);
      await stopping;
    } finally {
      kit.otp.knex.removeListener('query', onQuery);
    }
    assert.equal(provider.calls.length, 0, 'nothing was sent');
    const rows = (await kit.otp.knex('otp_requests').select()).map(toRequestRow);
    assert.equal(rows.length, 3);
    for (const row of rows) {
      assert.deepEqual([row.status, row.leaseToken, row.leaseExpiresAt, row.nextAttemptAt, row.sendAttempts], ['queued', null, null, kit.clock.now(), 0]);
    }
    // Another worker takes them at once.
    start(kit);
    await waitFor('the released rows to be sent', () => provider.calls.length === 3);
  });

  it('validates its options with errors that name the option', async () => {
    const kit = await createTestKit(db(), { limits: false, sms: { retry: true } });
    await expectOtpError(() => kit.otp.startRetryPoller({ batchSize: 0 }), 'CONFIG_INVALID', /option `batchSize` must be greater than or equal to 1 \(got 0\)/);
    await expectOtpError(() => kit.otp.startRetryPoller({ pollInterval: 2.5 }), 'CONFIG_INVALID', /`pollInterval` must be an integer/);
    await expectOtpError(() => kit.otp.startRetryPoller({ leaseMs: 500 }), 'CONFIG_INVALID', /`leaseMs` must be greater than or equal to 1000/);
    await expectOtpError(() => kit.otp.startRetryPoller({ concurrency: '4' } as never), 'CONFIG_INVALID', /`concurrency` must be a number \(got "4"\)/);
    await expectOtpError(() => kit.otp.startRetryPoller({ pollIntervl: 10 } as never), 'CONFIG_INVALID', /unknown option `pollIntervl`; known options: pollInterval/);
    await expectOtpError(() => kit.otp.startRetryPoller(null as never), 'CONFIG_INVALID', /options must be an object/);
  });
});

it('knows which servers support SKIP LOCKED', () => {
  assert.equal(supportsSkipLocked('mysql', '10.11.19-MariaDB-0+deb12u1'), true);
  assert.equal(supportsSkipLocked('mysql', '10.6.0-MariaDB'), true);
  assert.equal(supportsSkipLocked('mysql', '10.5.23-MariaDB-log'), false);
  assert.equal(supportsSkipLocked('mysql', '8.0.36'), true);
  assert.equal(supportsSkipLocked('mysql', '8.0.0-dmr'), false);
  assert.equal(supportsSkipLocked('mysql', '5.7.44-log'), false);
  assert.equal(supportsSkipLocked('postgres', 'PostgreSQL 15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu'), true);
  assert.equal(supportsSkipLocked('postgres', 'PostgreSQL 9.4.26'), false);
  assert.equal(supportsSkipLocked('mysql', 'garbage'), false);
});
