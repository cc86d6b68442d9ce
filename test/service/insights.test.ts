/**
 * Issue 24 on every database: a mixed workload through the real Twilio, Sinch and Mada SDKs against
 * the loopback fakes (countries, channels, providers, wrong codes, expiries, supersedes, refusals)
 * ends each request exactly once (one end webhook, one `ended` event), and `otp.insights()` equals
 * a count over the request rows. The figures survive `purge()`; `forget(phone)` ends the number's
 * live request as canceled and leaves no number in the rollups.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { latencyBucket, LATENCY_BOUNDS } from '../../lib/core/insights.js';
import { countryOf } from '../../lib/core/request-end.js';
import { createOtp, type Otp, type RequestEndedEvent } from '../../lib/index.js';
import { internalsOf } from '../../lib/service/internals.js';
import { sweepEnds } from '../../lib/service/request-ends.js';
import type { Channel } from '../../lib/types.js';
import { forEachDatabase } from '../helpers/db.js';
import { newWebhookSecret } from '../helpers/webhook-receiver.js';
import { sleep } from '../helpers/worker-utils.js';
import { fakeEnv, recordingLogger, testClock, useFakes, type ProviderName } from '../integration/harness.js';

const END_TYPES = ['otp.verified', 'otp.expired', 'otp.max_attempts_reached', 'otp.canceled'];
const NUMBERS: ReadonlyArray<readonly [string, Channel]> = [
  ['+359881234501', 'sms'], ['+359881234502', 'call'], ['+359881234503', 'sms'], ['+359881234504', 'sms'], ['+359881234505', 'sms'],
  ['+4915123456701', 'sms'], ['+4915123456702', 'call'], ['+4915123456703', 'whatsapp'], ['+4915123456704', 'sms'], ['+4915123456705', 'sms'],
  ['+12127360101', 'sms'], ['+12127360102', 'whatsapp'], ['+12127360103', 'call'], ['+12127360104', 'sms'], ['+12127360105', 'sms'],
  ['+447911123401', 'sms'], ['+447911123402', 'call'], ['+447911123403', 'sms'], ['+447911123404', 'sms'], ['+447911123405', 'sms'],
];

interface Row {
  request_id: string;
  phone: string;
  channel: string;
  purpose: string;
  provider: string | null;
  status: string;
  verify_status: string;
  attempts: number | string;
  verified_at: number | string | null;
  created_at: number | string;
  end_outcome: string | null;
}

forEachDatabase('insights and request ends', (db) => {
  const fakes = useFakes();

  it('a mixed workload: every request ends once, and the insights equal a count over the rows', { timeout: 120_000 }, async () => {
    const f = fakes();
    const clock = testClock(Date.UTC(2026, 10, 25, 10, 0, 0));
    const otp: Otp = createOtp({
      db: db().knex,
      env: fakeEnv(f, 'Twilio;Sinch:+49;Mada:+359'),
      logger: recordingLogger(),
      clock,
      maxAttempts: 3,
      limits: { sendCooldownSeconds: 1, sendsPerPrefix: false, sendsPerIp: false, verifiesPerIp: false, dailySendBudget: false, conversionBreaker: false },
      destinations: { deny: ['FR'] },
      webhooks: { url: 'http://127.0.0.1:9/hooks', secret: newWebhookSecret() },
      prices: { currency: 'EUR', default: 0.05, rates: [{ provider: 'Twilio', channel: 'sms', price: 0.07 }, { provider: 'Twilio', country: 'US', price: 0.01 }, { provider: 'mada', price: 0.02 }] },
    });
    await otp.migrate();
    const deps = internalsOf(otp);
    const ended: RequestEndedEvent[] = [];
    otp.events.on('ended', (e) => ended.push(e));
    const providerOf = (phone: string): ProviderName => (phone.startsWith('+49') ? 'Sinch' : phone.startsWith('+359') ? 'Mada' : 'Twilio');
    const codeOf = (phone: string, channel: Channel): string => f.codeFor(phone.startsWith('+359') && channel === 'sms' ? 'Mada' : phone.startsWith('+359') ? 'Twilio' : providerOf(phone), phone);

    // Refusals: a denied country (policy) and a second send inside the cooldown (limit).
    await otp.sendSms('+33612345678');
    await otp.sendSms('+359881234599');
    await assert.rejects(otp.sendSms('+359881234599'), /Too many requests/);

    for (const [i, [phone, channel]] of NUMBERS.entries()) {
      const purpose = i % 2 === 0 ? 'login' : 'signup';
      await otp.send(phone, channel, { purpose });
      clock.advance(7_000 + i * 1_000);
      const code = codeOf(phone, channel);
      const wrong = code === '000000' ? '111111' : '000000';
      switch (i % 5) {
        case 0:
          assert.equal((await otp.verify(phone, code)).codeValid, true);
          break;
        case 1:
          assert.equal((await otp.verify(phone, wrong)).codeValid, false);
          assert.equal((await otp.verify(phone, code)).codeValid, true);
          break;
        case 2:
          for (let k = 0; k < 3; k += 1) assert.equal((await otp.verify(phone, wrong)).codeValid, false);
          break;
        case 3:
          break; // never verified: expires
        default:
          clock.advance(61_000);
          await sleep(1_100); // the cooldown counts on the wall clock
          await otp.send(phone, channel, { purpose }); // supersedes the first
          clock.advance(20_000);
          assert.equal((await otp.verify(phone, codeOf(phone, channel))).codeValid, true);
      }
    }
    const canceledApp = await otp.sendSms('+447911123499', { purpose: 'login' });
    assert.deepEqual(await otp.cancel(canceledApp.requestId), { canceled: 1 });
    assert.equal((await otp.verify('+447911123499', '123456')).codeValid, false, 'a canceled code no longer verifies');

    // Everything expires; the end sweep (what the poller runs) claims the rest.
    clock.advance(400_000);
    await sweepEnds(deps);
    assert.equal(await sweepEnds(deps), 0, 'a second sweep finds nothing');

    const rows: Row[] = await db().knex('otp_requests').select();
    assert.equal(rows.length, NUMBERS.length + 4 + 2);
    assert.ok(rows.every((r) => r.end_outcome !== null), 'every request ended');
    const outbox: Array<{ request_id: string; event_type: string; body: string }> = await db().knex('otp_webhooks').whereIn('event_type', END_TYPES).select();
    for (const r of rows) {
      assert.equal(outbox.filter((o) => o.request_id === r.request_id).length, 1, `one end webhook for ${r.request_id}`);
      assert.equal(ended.filter((e) => e.requestId === r.request_id).length, 1, `one ended event for ${r.request_id}`);
    }
    assert.equal(outbox.length, rows.length);
    for (const o of outbox) for (const r of rows) assert.ok(!o.body.includes(r.phone.slice(1)) && !o.body.includes(r.phone.slice(-7)), 'no number in an end webhook');
    const sample = JSON.parse(outbox.find((o) => o.event_type === 'otp.verified')?.body ?? '{}') as { data: RequestEndedEvent };
    assert.ok(sample.data.sends.length >= 1 && sample.data.checks >= 1 && /^[A-Z]{2}$/.test(sample.data.country));
    const outcomes = new Map(ended.map((e) => [e.requestId, e]));
    assert.equal(outcomes.get(canceledApp.requestId)?.reason, 'canceled');
    assert.equal([...outcomes.values()].filter((e) => e.reason === 'superseded').length, 4);

    // The expected figures, counted over the request rows.
    const expected = new Map<string, { requests: number; delivered: number; verified: number; expired: number; maxAttempts: number; canceled: number; failed: number; cost: number }>();
    const lat: number[] = [];
    const price = (provider: string, channel: string, country: string): number =>
      provider === 'Twilio' && channel === 'sms' ? 0.07 : provider === 'Twilio' && country === 'US' ? 0.01 : provider === 'Mada' ? 0.02 : 0.05;
    for (const r of rows) {
      const delivered = r.status === 'sent' && r.provider !== null;
      const key = [countryOf(r.phone), r.channel, delivered ? r.provider : 'none', r.purpose].join('/');
      const e = expected.get(key) ?? { requests: 0, delivered: 0, verified: 0, expired: 0, maxAttempts: 0, canceled: 0, failed: 0, cost: 0 };
      const outcome = (r.end_outcome ?? '').split(':')[0];
      e.requests += 1;
      if (delivered) {
        e.delivered += 1;
        e.cost += price(r.provider ?? '', r.channel, countryOf(r.phone));
      } else if (outcome !== 'canceled') e.failed += 1;
      if (outcome === 'verified') {
        e.verified += 1;
        lat.push((Number(r.verified_at) - Number(r.created_at)) / 1000);
      }
      if (outcome === 'expired') e.expired += 1;
      if (outcome === 'max_attempts_reached') e.maxAttempts += 1;
      if (outcome === 'canceled') e.canceled += 1;
      expected.set(key, e);
    }
    const from = new Date(Date.UTC(2026, 10, 25, 0, 0, 0));
    const to = new Date(Date.UTC(2026, 10, 27, 0, 0, 0));
    const result = await otp.insights({ from, to, groupBy: ['country', 'channel', 'provider', 'purpose'] });
    assert.equal(result.currency, 'EUR');
    const got = new Map(result.groups.filter((g) => g.requests > 0).map((g) => [[g.key.country, g.key.channel, g.key.provider, g.key.purpose].join('/'), g]));
    assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort());
    for (const [key, e] of expected) {
      const g = got.get(key);
      assert.ok(g !== undefined);
      assert.deepEqual(
        { requests: g.requests, delivered: g.delivered, verified: g.verified, expired: g.expired, maxAttempts: g.maxAttempts, canceled: g.canceled, failed: g.failed },
        { requests: e.requests, delivered: e.delivered, verified: e.verified, expired: e.expired, maxAttempts: e.maxAttempts, canceled: e.canceled, failed: e.failed },
        key,
      );
      assert.ok(Math.abs(g.estimatedCost - e.cost) < 1e-9, `${key} cost ${g.estimatedCost} vs ${e.cost}`);
    }
    const t = result.totals;
    assert.equal(t.requests, rows.length);
    assert.equal(t.verified, rows.filter((r) => r.verify_status === 'verified').length);
    assert.equal(t.conversionRate, t.verified / t.requests);
    assert.deepEqual(t.refusals, { limit: 1, policy: 1, breaker: 0, challenge: 0 });
    assert.deepEqual(t.monitored, { limit: 0, policy: 0, breaker: 0, challenge: 0 });
    // The median lies in the histogram bucket of the true median (resolution: LATENCY_BOUNDS).
    const sorted = [...lat].sort((a, b) => a - b);
    const trueMedian = sorted[Math.ceil(sorted.length / 2) - 1] ?? 0;
    const b = latencyBucket(trueMedian);
    const median = t.verifySeconds.median ?? -1;
    assert.ok(median >= (b === 0 ? 0 : (LATENCY_BOUNDS[b - 1] ?? 0)) && median <= (LATENCY_BOUNDS[b] ?? 600), `median ${median} in the bucket of ${trueMedian}`);
    assert.ok((t.verifySeconds.p90 ?? 0) >= median);

    // By day and by hour the totals are the same.
    for (const dim of ['day', 'hour'] as const) {
      const byTime = await otp.insights({ from, to, groupBy: [dim] });
      assert.equal(byTime.groups.reduce((s, g) => s + g.requests, 0), rows.length);
      assert.deepEqual(byTime.totals, result.totals);
    }
    await assert.rejects(otp.insights({ from: to, to: from }), /`to` must be after `from`/);
    await assert.rejects(otp.insights({ from, to, groupBy: ['city' as never] }), /unknown dimension "city"/);

    // The figures outlive purge() (request rows gone), and forget leaves no number in them.
    await otp.sendSms('+447911123477', { purpose: 'login' });
    assert.equal((await otp.forget('+447911123477')).requests, 1);
    assert.equal(ended.at(-1)?.reason, 'forgotten');
    clock.advance(40 * 86_400_000);
    const purged = await otp.purge();
    assert.ok(purged.requests >= rows.length);
    assert.equal(Number((await db().knex('otp_requests').count<Array<{ n: number | string }>>({ n: '*' }))[0]?.n), 0, 'every request row was purged');
    const after = await otp.insights({ from, to, groupBy: ['country', 'channel', 'provider', 'purpose'] });
    assert.equal(after.totals.requests, rows.length + 1);
    assert.equal(after.totals.canceled, result.totals.canceled + 1);
    const rollups = JSON.stringify(await db().knex('otp_insights').select());
    for (const phone of [...rows.map((r) => r.phone), '+447911123477']) assert.ok(!rollups.includes(phone.slice(1)) && !rollups.includes(phone.slice(-7)), 'no number in the rollups');
    // Past their own retention (400 days) the rollups go too.
    clock.advance(400 * 86_400_000);
    assert.ok((await otp.purge()).insights > 0);
    assert.equal((await otp.insights({ from, to })).totals.requests, 0);
    f.assertNoProtocolProblems();
    await otp.close();
  });
});
