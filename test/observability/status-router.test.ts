import assert from 'node:assert/strict';
import { it } from 'node:test';
import express, { type Express } from 'express';
import request from 'supertest';
import { maskPhone, OtpError, otpStatusRouter, type Otp } from '../../lib/index.js';
import { ProviderError } from '../../lib/providers/provider-error.js';
import type { OtpProvider } from '../../lib/types.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';
import { recordingProvider, type RecordingProvider } from '../helpers/providers.js';

const A = '+359871234567';
const B = '+359881234567';
const C = '+359891234567';
const D = '+359871230000';

function appOf(otp: Otp, options: Parameters<typeof otpStatusRouter>[1] = {}): Express {
  const app = express();
  app.use('/admin/otp', otpStatusRouter(otp, options));
  return app;
}

/** Fails if the JSON text holds a full number (with or without `+`, or spaced) or any of the codes. */
function assertNoSecrets(text: string, phones: readonly string[], codes: readonly string[]): void {
  for (const phone of phones) {
    assert.ok(!text.includes(phone.slice(1)), `leaks ${phone}: ${text}`);
    assert.ok(!text.includes(phone.slice(-7)), `leaks the subscriber digits of ${phone}`);
  }
  for (const code of codes) assert.ok(!new RegExp(`(?<![0-9])${code}(?![0-9])`).test(text), `leaks the code ${code}`);
  assert.ok(!/code_?digest|cipher|client_?ip|provider_?(request|response)/i.test(text), 'no secret columns');
}

/** A provider whose error text carries the number in a spaced form the kit's own redaction does not know. */
function leakyProvider(): OtpProvider {
  return {
    name: 'Leaky',
    channels: ['sms', 'call'],
    ownsCode: false,
    send: (input) =>
      Promise.reject(
        new ProviderError({ provider: 'Leaky', kind: 'rejected', retryable: true, message: `cannot reach ${input.phone.slice(0, 4)} ${input.phone.slice(4, 6)} ${input.phone.slice(6, 9)} ${input.phone.slice(9)}`, httpStatus: 503 }),
      ),
  };
}

forEachDatabase('otp status router', (db) => {
  let flaky: RecordingProvider;
  let backup: RecordingProvider;

  async function setup(): Promise<{ otp: Otp; app: Express; codes: () => string[]; clockAdvance: (ms: number) => void }> {
    flaky = recordingProvider('Flaky');
    backup = recordingProvider('Backup');
    flaky.plan = ['retryable'];
    const kit = await createTestKit(db(), { limits: false, providers: 'Flaky;Leaky:+35989;Backup', customProviders: [flaky, backup, leakyProvider()], sms: { retry: true, baseDelayMs: 1000, maxDelayMs: 1000 } });
    await kit.otp.knex('otp_requests').delete();
    return { otp: kit.otp, app: appOf(kit.otp, { limit: 10 }), codes: () => [...flaky.calls, ...backup.calls].map((c) => c.code), clockAdvance: (ms) => kit.clock.advance(ms) };
  }

  it('lists recent requests with masked numbers only, newest first, and validates its query', async () => {
    const { otp, app, codes } = await setup();
    assert.equal((await otp.sendSms(A)).provider, 'Backup', 'failover to Backup');
    await otp.verify(A, backup.calls.at(-1)?.code ?? '');
    backup.plan = ['retryable'];
    assert.equal((await otp.sendSms(B)).status, 'queued');
    assert.equal((await otp.call(C)).status, 'queued', 'Leaky, Flaky and Backup all failed');

    const res = await request(app).get('/admin/otp/requests');
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'no-store');
    assertNoSecrets(res.text, [A, B, C], codes());
    const list = (res.body as { requests: Record<string, unknown>[] }).requests;
    assert.deepEqual(
      list.map((r) => [r.phone, r.channel, r.status, r.provider, r.verifyStatus, r.sendAttempts]),
      [
        [maskPhone(C), 'call', 'queued', null, 'pending', 1],
        [maskPhone(B), 'sms', 'queued', null, 'pending', 1],
        [maskPhone(A), 'sms', 'sent', 'Backup', 'verified', 1],
      ],
    );
    const sent = list[2] as Record<string, unknown>;
    assert.deepEqual(sent.chain, ['Flaky', 'Backup']);
    assert.match(String(sent.lastError), /Flaky.*throttled/, 'the failed first provider is kept as last error');
    assert.equal(typeof sent.verifiedAt, 'string');
    assert.equal(Date.parse(String(sent.expiresAt)) - Date.parse(String(sent.createdAt)), 300_000);
    assert.match(String((list[0] as Record<string, unknown>).lastError), /Leaky.*(\[number\]|\+359 89\*{5}67)/, 'the spaced number in the error text is scrubbed (masked where it is stored, issue 23.9)');

    const one = await request(app).get('/admin/otp/requests?limit=1');
    assert.equal((one.body as { requests: unknown[] }).requests.length, 1);
    const queued = await request(app).get('/admin/otp/requests?status=queued');
    assert.equal((queued.body as { requests: unknown[] }).requests.length, 2);

    for (const [query, field] of [['limit=0', 'limit'], ['limit=11', 'limit'], ['limit=abc', 'limit'], ['limit=1&limit=2', 'limit'], ['status=bogus', 'status']] as const) {
      const bad = await request(app).get(`/admin/otp/requests?${query}`);
      assert.equal(bad.status, 400, query);
      assert.equal((bad.body as { error: { code: string; field: string } }).error.code, 'VALIDATION_FAILED');
      assert.equal((bad.body as { error: { code: string; field: string } }).error.field, field);
      assert.equal(bad.headers['cache-control'], 'no-store');
    }
    assert.equal((await request(app).post('/admin/otp/requests').send({})).status, 404, 'read-only');
    assert.equal((await request(app).delete('/admin/otp/requests')).status, 404, 'read-only');
  });

  it('shows the retry queue: counts by status, the next due rows masked, the oldest due age', async () => {
    const { otp, app, codes, clockAdvance } = await setup();
    await otp.sendSms(A);
    backup.plan = ['retryable'];
    await otp.sendSms(B);
    await otp.sendSms(D);
    await otp.call(C);

    const dbCounts = await otp.knex('otp_requests').select('status').count<{ status: string; n: number | string }[]>({ n: '*' }).groupBy('status');
    const expected = Object.fromEntries(dbCounts.map((r) => [r.status, Number(r.n)]));
    assert.deepEqual(expected, { sent: 1, queued: 3 });

    let res = await request(app).get('/admin/otp/retry-queue');
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'no-store');
    assertNoSecrets(res.text, [A, B, C, D], codes());
    let body = res.body as { retryEnabled: boolean; counts: Record<string, number>; pending: number; oldestDueAgeSeconds: number | null; next: Record<string, unknown>[] };
    assert.equal(body.retryEnabled, true);
    assert.deepEqual(body.counts, { sending: 0, queued: 3, sent: 1, failed: 0, unsendable: 0, expired: 0 });
    assert.equal(body.pending, 3);
    assert.equal(body.oldestDueAgeSeconds, null, 'nothing is due yet');
    assert.deepEqual(new Set(body.next.map((r) => r.phone)), new Set([maskPhone(B), maskPhone(C), maskPhone(D)]));
    assert.ok(body.next.every((r) => r.due === false && r.leased === false && r.status === 'queued'));

    clockAdvance(60_000);
    const oldest = (await otp.knex('otp_requests').where({ status: 'queued' }).min({ due: 'next_attempt_at' }).first()) as { due: number | string };
    res = await request(app).get('/admin/otp/retry-queue?limit=2');
    body = res.body as typeof body;
    assert.equal(body.next.length, 2);
    assert.ok(body.next.every((r) => r.due === true));
    assert.equal(body.oldestDueAgeSeconds, Math.round((Date.parse((res.body as { generatedAt: string }).generatedAt) - Number(oldest.due)) / 1000));
    assert.ok((body.oldestDueAgeSeconds ?? 0) >= 58 && (body.oldestDueAgeSeconds ?? 0) <= 60);
  });

  it('reports provider health from this process and the routing in force', async () => {
    const { otp, app, codes } = await setup();
    const before = await request(app).get('/admin/otp/providers');
    assert.equal((before.body as { routing: string }).routing, 'Flaky;Leaky:+35989;Backup');
    assert.deepEqual(
      (before.body as { providers: { provider: string; status: string }[] }).providers.map((p) => [p.provider, p.status]),
      [['Flaky', 'unknown'], ['Backup', 'unknown'], ['Leaky', 'unknown']],
    );

    await otp.sendSms(A);
    await otp.sendSms(B);
    await otp.call(C);
    backup.plan = ['retryable'];
    await otp.sendSms(D);

    const res = await request(app).get('/admin/otp/providers');
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'no-store');
    assertNoSecrets(res.text, [A, B, C, D], codes());
    const providers = (res.body as { providers: Record<string, unknown>[] }).providers;
    const byName = Object.fromEntries(providers.map((p) => [p.provider, p]));
    const flakyHealth = byName.Flaky as Record<string, unknown>;
    assert.equal(flakyHealth.status, 'failing');
    assert.equal(flakyHealth.recentCalls, 4);
    assert.equal(flakyHealth.recentFailures, 4);
    assert.equal(flakyHealth.lastSuccessAt, null);
    assert.equal(typeof flakyHealth.lastFailureAt, 'string');
    assert.match(String((flakyHealth.lastError as { at: unknown }).at), /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual({ ...(flakyHealth.lastError as object), at: 'x' }, { at: 'x', kind: 'rejected', retryable: true, providerCode: null, message: 'Flaky rejected http 429: throttled' });
    const backupHealth = byName.Backup as Record<string, unknown>;
    assert.deepEqual([backupHealth.status, backupHealth.recentCalls, backupHealth.recentFailures, backupHealth.consecutiveFailures], ['degraded', 4, 1, 1]);
    assert.equal(typeof backupHealth.lastSuccessAt, 'string');
    const leakyHealth = byName.Leaky as Record<string, unknown>;
    assert.equal(leakyHealth.recentFailures, 1);
    assert.match((leakyHealth.lastError as { message: string }).message, /\[number\]|\+359 89\*{5}67/);
  });

  it('checks its options', () => {
    assert.throws(() => otpStatusRouter({} as Otp), /first argument must be the service returned by createOtp/);
    const fake = { routing: () => Promise.resolve(), knex: () => undefined } as unknown as Otp;
    assert.throws(() => otpStatusRouter(fake, { limit: 0 }), (e: unknown) => e instanceof OtpError && e.code === 'CONFIG_INVALID' && /`limit`/.test(e.message));
    assert.throws(() => otpStatusRouter(fake, { limt: 5 } as never), /unknown option `limt`/);
  });
});
