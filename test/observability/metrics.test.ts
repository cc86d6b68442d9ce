import assert from 'node:assert/strict';
import { it } from 'node:test';
import express from 'express';
import { register as globalRegister, Registry } from 'prom-client';
import request from 'supertest';
import { otpMetrics, OtpError, type MetricsRegistry, type Otp } from '../../lib/index.js';
import { safeLabel, safeText } from '../../lib/observability/safe-text.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';
import { lastCodeOf, recordingProvider, type RecordingProvider } from '../helpers/providers.js';

const A = '+359871234567';
const B = '+359881234567';
const C = '+359891234567';
const NEVER_SENT = '+359871111111';
/** A universal freephone number: toll-free, refused by the default destination policy. */
const UNIVERSAL = '+80012345678';
const wrongOf = (code: string) => (code === '000000' ? '111111' : '000000');

/** The value of one series of a metric, read through prom-client's JSON export. */
async function valueOf(registry: MetricsRegistry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = ((await registry.getMetricsAsJSON()) as Awaited<ReturnType<Registry['getMetricsAsJSON']>>).find((m) => m.name === name);
  assert.ok(metric !== undefined, `metric ${name} is registered`);
  const series = metric.values.find((v) => {
    const l = v.labels as Record<string, unknown>;
    return Object.keys(labels).length === Object.keys(l).length && Object.entries(labels).every(([k, want]) => String(l[k]) === want);
  });
  return series?.value;
}

/** Resolves on the next `event` of the kit, or fails after `ms`. */
function nextEvent(otp: Otp, event: 'unsendable', ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} event within ${ms} ms`)), ms);
    otp.events.once(event, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function rowsIn(otp: Otp, status: string): Promise<number> {
  const row = (await otp.knex('otp_requests').where({ status }).count({ n: '*' }).first()) as { n: number | string };
  return Number(row.n);
}
const queuedRows = (otp: Otp): Promise<number> => rowsIn(otp, 'queued');

/** Polls `check` every 20 ms until it holds, or fails after `ms`. */
async function until(check: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

forEachDatabase('otp metrics', (db) => {
  it('counts sends by provider and outcome, failover failures, latency and verification outcomes', async () => {
    const flaky = recordingProvider('Flaky');
    const backup = recordingProvider('Backup');
    flaky.plan = ['retryable', 'ok'];
    const kit = await createTestKit(db(), { limits: false, providers: ['Flaky', 'Backup'], customProviders: [flaky, backup] });
    const metrics = otpMetrics(kit.otp);
    try {
      const first = await kit.otp.sendSms(A);
      assert.equal(first.provider, 'Backup', 'Flaky failed, Backup delivered');
      const second = await kit.otp.call(B);
      assert.equal(second.provider, 'Flaky');

      assert.equal((await kit.otp.verify(B, wrongOf(lastCodeOf(flaky)))).reason, 'OTP_INVALID');
      assert.equal((await kit.otp.verify(B, lastCodeOf(flaky))).codeValid, true);
      assert.equal((await kit.otp.verify(A, lastCodeOf(backup))).codeValid, true);
      assert.equal((await kit.otp.verify(NEVER_SENT, '123456')).reason, 'OTP_NOT_FOUND');

      const r = metrics.registry;
      assert.equal(await valueOf(r, 'otp_requests_total', { channel: 'sms' }), 1);
      assert.equal(await valueOf(r, 'otp_requests_total', { channel: 'call' }), 1);
      assert.equal(await valueOf(r, 'otp_sends_total', { provider: 'Flaky', channel: 'sms', outcome: 'failed' }), 1);
      assert.equal(await valueOf(r, 'otp_sends_total', { provider: 'Backup', channel: 'sms', outcome: 'sent' }), 1);
      assert.equal(await valueOf(r, 'otp_sends_total', { provider: 'Flaky', channel: 'call', outcome: 'sent' }), 1);
      assert.equal(await valueOf(r, 'otp_provider_failures_total', { provider: 'Flaky', kind: 'rejected', retryable: 'true' }), 1);
      assert.equal(await valueOf(r, 'otp_provider_failures_total', { provider: 'Backup', kind: 'rejected', retryable: 'true' }), undefined);
      assert.equal(await valueOf(r, 'otp_verifications_total', { outcome: 'verified' }), 2);
      assert.equal(await valueOf(r, 'otp_verifications_total', { outcome: 'OTP_INVALID' }), 1);
      assert.equal(await valueOf(r, 'otp_verifications_total', { outcome: 'OTP_NOT_FOUND' }), 1);
      assert.equal(await valueOf(r, 'otp_retry_scheduled_total'), 0);
      assert.equal(await valueOf(r, 'otp_retry_queue_depth'), 0);

      const latency = await r.getSingleMetricAsString('otp_provider_latency_seconds');
      assert.match(latency, /^otp_provider_latency_seconds_count\{provider="Backup"\} 1$/m);
      assert.match(latency, /^otp_provider_latency_seconds_count\{provider="Flaky"\} 1$/m);
      assert.match(latency, /^otp_provider_latency_seconds_bucket\{le="\+Inf",provider="Backup"\} 1$/m);
      const sends = await r.getSingleMetricAsString('otp_sends_total');
      assert.match(sends, /^otp_sends_total\{provider="Flaky",channel="sms",outcome="failed"\} 1$/m);

      // Nothing a label carries may be a number or a code.
      const all = await r.metrics();
      for (const secret of [A, B, NEVER_SENT, A.slice(1), B.slice(1), ...[...flaky.calls, ...backup.calls].map((c) => c.code)]) {
        assert.ok(!all.includes(secret), `the metrics text leaks ${secret}`);
      }
      for (const call of [...flaky.calls, ...backup.calls]) assert.ok(!all.includes(call.requestId), 'no request ids in labels');
    } finally {
      metrics.stop();
    }
  });

  it('reads the retry queue depth from the database on scrape and counts retries, expiry, unsendable and given-up sends', async () => {
    const down: RecordingProvider = recordingProvider('Down');
    down.plan = ['retryable'];
    const kit = await createTestKit(db(), { limits: false, providers: ['Down'], customProviders: [down], sms: { retry: true, maxRetries: 1, baseDelayMs: 100, maxDelayMs: 1000 } });
    const metrics = otpMetrics(kit.otp);
    const r = metrics.registry;
    try {
      assert.equal((await kit.otp.sendSms(A)).status, 'queued');
      assert.equal((await kit.otp.sendSms(B)).status, 'queued');
      assert.equal(await queuedRows(kit.otp), 2);
      assert.equal(await valueOf(r, 'otp_retry_queue_depth'), 2, 'the gauge is the COUNT of queued rows');
      assert.equal(await valueOf(r, 'otp_retry_scheduled_total'), 2);
      assert.equal(await valueOf(r, 'otp_sends_total', { provider: 'Down', channel: 'sms', outcome: 'failed' }), 2);

      // Past the TTL, the poller finds dead codes: both rows expire without another provider call.
      kit.clock.advance(301_000);
      let poller = kit.otp.startRetryPoller({ pollInterval: 20 });
      await until(async () => (await rowsIn(kit.otp, 'expired')) === 2, 'both rows expired');
      await poller.stop();
      assert.equal(await valueOf(r, 'otp_expired_total'), 2);
      assert.equal(await valueOf(r, 'otp_retry_queue_depth'), 0, 'the gauge follows the table');

      // A retry that fails again with maxRetries 1 is unsendable.
      assert.equal((await kit.otp.sendSms(C)).status, 'queued');
      assert.equal(await valueOf(r, 'otp_retry_queue_depth'), 1);
      kit.clock.advance(5_000);
      const unsendable = nextEvent(kit.otp, 'unsendable');
      poller = kit.otp.startRetryPoller({ pollInterval: 20 });
      await unsendable;
      await poller.stop();
      assert.equal(await valueOf(r, 'otp_unsendable_total'), 1);
      assert.equal(await valueOf(r, 'otp_sends_total', { provider: 'Down', channel: 'sms', outcome: 'failed' }), 4, 'the poller attempt is labelled with its channel too');
      assert.equal(await valueOf(r, 'otp_retry_queue_depth'), 0);

      // A permanent refusal is not retried.
      down.plan = ['permanent'];
      await assert.rejects(kit.otp.sendSms(NEVER_SENT), (e: unknown) => e instanceof OtpError && e.code === 'PROVIDER_UNAVAILABLE');
      assert.equal(await valueOf(r, 'otp_delivery_failed_total'), 1);
      assert.equal(await valueOf(r, 'otp_provider_failures_total', { provider: 'Down', kind: 'rejected', retryable: 'false' }), 1);
    } finally {
      metrics.stop();
    }
  });

  it('serves /metrics in the Prometheus text format through metricsHandler()', async () => {
    const kit = await createTestKit(db(), { limits: false });
    const metrics = otpMetrics(kit.otp, { prefix: 'myapp_otp_' });
    try {
      await kit.otp.sendSms(A);
      await kit.otp.verify(A, kit.lastCode());
      const app = express();
      app.get('/metrics', metrics.metricsHandler());
      const res = await request(app).get('/metrics');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], metrics.registry.contentType);
      assert.match(res.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.match(res.text, /^# TYPE myapp_otp_sends_total counter$/m);
      assert.match(res.text, /^myapp_otp_sends_total\{provider="Console",channel="sms",outcome="sent"\} 1$/m);
      assert.match(res.text, /^myapp_otp_verifications_total\{outcome="verified"\} 1$/m);
      assert.match(res.text, /^myapp_otp_retry_queue_depth 0$/m);
      assert.ok(!res.text.includes(A.slice(1)), 'no phone number');
      assert.ok(!res.text.includes(kit.lastCode()), 'no code');
    } finally {
      metrics.stop();
    }
  });

  it('keeps its own registry, refuses a second registration clearly, and stop() unsubscribes and unregisters', async () => {
    const kit = await createTestKit(db(), { limits: false });
    const registry = new Registry();
    const metrics = otpMetrics(kit.otp, { registry });
    assert.equal(metrics.registry, registry);
    assert.equal(globalRegister.getSingleMetric('otp_sends_total'), undefined, 'never the global registry unless asked');
    assert.throws(() => otpMetrics(kit.otp, { registry }), (e: unknown) => e instanceof OtpError && e.code === 'CONFIG_INVALID' && /otp_requests_total.*prefix/.test(e.message));
    assert.ok(registry.getSingleMetric('otp_sends_total') !== undefined, 'the failed second call left the first one registered');

    await kit.otp.sendSms(A);
    assert.equal(await valueOf(registry, 'otp_sends_total', { provider: 'Console', channel: 'sms', outcome: 'sent' }), 1);
    metrics.stop();
    metrics.stop();
    assert.equal(registry.getSingleMetric('otp_sends_total'), undefined);

    const again = otpMetrics(kit.otp, { registry });
    try {
      await kit.otp.sendSms(B);
      assert.equal(await valueOf(registry, 'otp_sends_total', { provider: 'Console', channel: 'sms', outcome: 'sent' }), 1, 'the stopped instance no longer counts');
    } finally {
      again.stop();
    }
  });

  it('counts limit hits by limit name and refused destinations by reason, never by number', async () => {
    // Default limits: a second send to one number within 60 s is refused.
    const kit = await createTestKit(db(), { limits: {} });
    const metrics = otpMetrics(kit.otp);
    try {
      await kit.otp.sendSms(C);
      await assert.rejects(kit.otp.sendSms(C), (e: unknown) => e instanceof OtpError && e.code === 'RATE_LIMITED');
      assert.equal(await valueOf(metrics.registry, 'otp_limit_hits_total', { limit: 'sendCooldownSeconds' }), 1);
      // Toll-free numbers are refused by default with a look-alike answer and no row.
      const decoy = await kit.otp.sendSms(UNIVERSAL);
      assert.equal(decoy.provider, null);
      assert.equal(await valueOf(metrics.registry, 'otp_send_refused_total', { reason: 'number-type', channel: 'sms' }), 1);
      assert.equal(await valueOf(metrics.registry, 'otp_requests_total', { channel: 'sms' }), 1, 'the refused send made no request');

      // The key (a masked number or an IP) and a number-like limit name never become labels.
      kit.otp.events.emit('limit-hit', { limit: A, key: A, retryAfterSeconds: 30 });
      assert.equal(await valueOf(metrics.registry, 'otp_limit_hits_total', { limit: 'other' }), 1);
      const text = await metrics.registry.metrics();
      for (const phone of [A, C, UNIVERSAL]) assert.ok(!text.includes(phone.slice(1)), `leaks ${phone}`);
      assert.ok(!text.includes('*'), 'not even masked numbers');
    } finally {
      metrics.stop();
    }
  });
});

it('otpMetrics validates its arguments with messages that name the option', () => {
  const fakeOtp = { events: { on() {}, off() {} }, knex: () => undefined, config: {} } as unknown as Otp;
  assert.throws(() => otpMetrics({} as Otp), /first argument must be the service returned by createOtp/);
  assert.throws(() => otpMetrics(fakeOtp, { prefix: '9bad' }), /option `prefix`/);
  assert.throws(() => otpMetrics(fakeOtp, { prefx: 'x_' } as never), /unknown option `prefx`/);
  assert.throws(() => otpMetrics(fakeOtp, { registry: {} as unknown as Registry }), /option `registry` must be a prom-client Registry/);
  assert.throws(() => otpMetrics(fakeOtp, { latencyBuckets: [1, 0.5] }), /latencyBuckets/);
});

it('safeLabel and safeText keep numbers and codes out', () => {
  assert.equal(safeLabel('Twilio'), 'Twilio');
  assert.equal(safeLabel('rate:phone-send'), 'rate:phone-send');
  assert.equal(safeLabel('+359871234567'), 'other');
  assert.equal(safeLabel('code123456'), 'other');
  assert.equal(safeLabel('a b'), 'other');
  assert.equal(safeLabel(undefined, 'unknown'), 'unknown');
  assert.equal(safeText('"Twilio[20429] rejected http 429: Too many requests"'), 'Twilio[20429] rejected http 429: Too many requests');
  assert.equal(safeText('to +359871234567 code 123456'), 'to [digits] code [digits]');
  assert.equal(safeText('to +359 87 123 4567 failed'), 'to [number] failed');
  assert.equal(safeText('masked +35987*****67 ok'), 'masked +35987*****67 ok');
  assert.equal(safeText('line\r\nbreak'), 'line break');
  assert.equal(safeText('x'.repeat(300))?.length, 200);
  assert.equal(safeText(null), null);
});
