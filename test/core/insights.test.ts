/** The pure insight logic without a database: histogram and quantiles, merging, rates, prices, coverage, request ends. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { addCounters, coverage, dayKey, hourKey, LATENCY_BUCKETS, latencyBucket, mergeRollups, quantileSeconds, rollupRanges, weekOf, zeroCounters, type RollupRow } from '../../lib/core/insights.js';
import { pricesOptionsSchema, rankedRates, resolvePrices } from '../../lib/core/insights-options.js';
import { checksOf, endOf, rollupOf, sendAttempts, stepOf, type EndingRow } from '../../lib/core/request-end.js';
import { resolveOptions } from '../../lib/options.js';

const H = 3_600_000;
const D = 24 * H;

function row(key: Record<string, string>, over: Partial<RollupRow>): RollupRow {
  return { ...zeroCounters(), key, cost: 0, ...over };
}

it('latency buckets and quantiles: exact bucket, interpolated and rounded to the second', () => {
  assert.equal(latencyBucket(0), 0);
  assert.equal(latencyBucket(4.99), 0);
  assert.equal(latencyBucket(5), 1);
  assert.equal(latencyBucket(59), 11);
  assert.equal(latencyBucket(60), 12);
  assert.equal(latencyBucket(10_000), LATENCY_BUCKETS - 1);
  const h = new Array<number>(LATENCY_BUCKETS).fill(0);
  assert.equal(quantileSeconds(h, 0.5), null);
  h[2] = 10; // ten verifications in [10, 15)
  assert.ok((quantileSeconds(h, 0.5) ?? 0) >= 10 && (quantileSeconds(h, 0.5) ?? 0) < 15);
  h[12] = 10; // ten more in [60, 75)
  assert.ok((quantileSeconds(h, 0.5) ?? 0) <= 15, 'the median is in the lower bucket');
  assert.ok((quantileSeconds(h, 0.9) ?? 0) >= 60 && (quantileSeconds(h, 0.9) ?? 0) <= 75);
  const last = new Array<number>(LATENCY_BUCKETS).fill(0);
  last[LATENCY_BUCKETS - 1] = 3;
  assert.equal(quantileSeconds(last, 0.5), 600);
});

it('merging rollup rows: sums per key, totals, conversion rate (null without requests) and cost; rates ranked most specific first', () => {
  const rates = rankedRates(resolvePrices({ currency: 'EUR', default: 0.05, rates: [{ channel: 'call', price: 0.2 }, { provider: 'Twilio', price: 0.07 }, { provider: 'Twilio', country: 'US', price: 0.01 }] }));
  assert.deepEqual(rates.map((r) => r.price), [0.01, 0.07, 0.2], 'provider and country, then provider, then channel');
  const rows = [
    row({ country: 'BG' }, { requests: 10, delivered: 10, verified: 5, cost: 0.7 }),
    row({ country: 'BG' }, { requests: 2, delivered: 2, verified: 2, cost: 0.4 }),
    row({ country: 'US' }, { requests: 4, delivered: 4, verified: 1, cost: 0.04 }),
    row({ country: 'FR' }, { refusals: { limit: 2, policy: 1, breaker: 0, challenge: 0 } }),
  ];
  const merged = mergeRollups(rows, ['country']);
  assert.deepEqual(merged.groups.map((g) => g.key.country), ['BG', 'US', 'FR']);
  const bg = merged.groups[0];
  assert.deepEqual([bg?.requests, bg?.verified, bg?.conversionRate, bg?.estimatedCost], [12, 7, 7 / 12, 1.1]);
  assert.equal(merged.groups[2]?.conversionRate, null);
  assert.deepEqual(merged.groups[2]?.refusals, { limit: 2, policy: 1, breaker: 0, challenge: 0 });
  assert.deepEqual([merged.totals.requests, merged.totals.estimatedCost], [16, 1.14]);
  assert.deepEqual(mergeRollups(rows, []).groups, [], 'no groupBy: totals only');
  const a = zeroCounters();
  addCounters(a, rows[0] as RollupRow);
  addCounters(a, rows[0] as RollupRow);
  assert.equal(a.requests, 20);
});

it('coverage: whole days from the daily rows, the ends from the hourly rows, bounds rounded to hours', () => {
  const day = Date.UTC(2026, 10, 1);
  assert.deepEqual(coverage(day, day + 3 * D, false), { hours: [], days: [day, day + 3 * D] });
  assert.deepEqual(coverage(day + 5 * H + 10, day + 2 * D + 3 * H + 1, false), { hours: [[day + 5 * H, day + D], [day + 2 * D, day + 2 * D + 4 * H]], days: [day + D, day + 2 * D] });
  assert.deepEqual(coverage(day, day + 3 * D, true), { hours: [[day, day + 3 * D]], days: undefined });
  assert.deepEqual(coverage(day + H, day + 5 * H, false), { hours: [[day + H, day + 5 * H]], days: undefined });
  assert.equal(dayKey(day + 5 * H), '2026-11-01');
  assert.equal(hourKey(day + 5 * H + 59_000), '2026-11-01T05:00Z');
});

it('rollup ranges: whole weeks from weekly rows, the days around them compact unless purpose or step is asked', () => {
  const monday = Date.UTC(2026, 10, 2);
  assert.equal(weekOf(monday + 3 * D + 5 * H), monday);
  assert.equal(weekOf(monday - 1), monday - 7 * D);
  // Wednesday 10:00 to the Thursday two weeks later, 05:00 (hours, days, one whole week, days, hours).
  assert.deepEqual(rollupRanges(monday + 2 * D + 10 * H, monday + 17 * D + 5 * H, ['country']), [
    ['h', monday + 2 * D + 10 * H, monday + 3 * D], ['h', monday + 17 * D, monday + 17 * D + 5 * H],
    ['c', monday + 3 * D, monday + 7 * D], ['w', monday + 7 * D, monday + 14 * D], ['c', monday + 14 * D, monday + 17 * D],
  ]);
  assert.deepEqual(rollupRanges(monday + 3 * D, monday + 15 * D, ['purpose']), [['d', monday + 3 * D, monday + 7 * D], ['w', monday + 7 * D, monday + 14 * D], ['d', monday + 14 * D, monday + 15 * D]], 'by purpose: full daily rows');
  assert.deepEqual(rollupRanges(monday, monday + 14 * D, ['step']), [['w', monday, monday + 14 * D]], 'whole weeks only');
  assert.deepEqual(rollupRanges(monday, monday + 14 * D, ['country', 'day']), [['c', monday, monday + 14 * D]], 'by day: compact daily rows');
  assert.deepEqual(rollupRanges(monday, monday + 14 * D, ['purpose', 'day']), [['d', monday, monday + 14 * D]], 'by purpose and day: daily rows');
  assert.deepEqual(rollupRanges(monday, monday + 3 * D, []), [['c', monday, monday + 3 * D]], 'totals');
  assert.deepEqual(rollupRanges(monday, monday + 2 * D, ['hour']), [['h', monday, monday + 2 * D]]);
});

it('the prices option is validated like the others', () => {
  assert.deepEqual(resolveOptions({ env: {} }).prices, { currency: 'USD', default: 0, rates: [] });
  assert.throws(() => resolveOptions({ env: {}, prices: { currency: 'euro' } }), /`prices.currency`/);
  assert.throws(() => resolveOptions({ env: {}, prices: { rates: [{ provider: 'Twilio' } as never] } }), /`prices.rates.0.price` is required/);
  assert.throws(() => resolveOptions({ env: {}, prices: { rates: [{ country: 'Germany', price: 1 }] } }), /`prices.rates.0.country`/);
  assert.equal(pricesOptionsSchema.validate({ default: -1 }).error !== undefined, true);
});

it('request ends: outcome and time from the row, send attempts, checks and the rollup increment', () => {
  const base: EndingRow = {
    id: 1, requestId: 'r', phone: '+359881234567', channel: 'sms', purpose: 'login', chain: ['Twilio', 'call:Sinch'], provider: 'Sinch', codeOwner: 'kit', status: 'sent', sendAttempts: 2,
    verifyStatus: 'pending', attempts: 0, verifiedAt: null, expiresAt: 300_000, createdAt: 0, updatedAt: 10_000,
  };
  assert.equal(endOf(base, 100_000, 5, 15_000), undefined, 'live');
  assert.deepEqual(endOf(base, 300_000, 5, 15_000), { outcome: 'expired', endedAt: 300_000 });
  assert.deepEqual(endOf({ ...base, verifyStatus: 'verified', verifiedAt: 42_000 }, 100_000, 5, 15_000), { outcome: 'verified', endedAt: 42_000 });
  assert.deepEqual(endOf({ ...base, verifyStatus: 'superseded' }, 100_000, 5, 15_000), { outcome: 'canceled', reason: 'superseded', endedAt: 10_000 });
  assert.equal(endOf({ ...base, attempts: 5 }, 20_000, 5, 15_000), undefined, 'a provider check may still be in flight');
  assert.deepEqual(endOf({ ...base, attempts: 5 }, 30_000, 5, 15_000), { outcome: 'max_attempts_reached', endedAt: 10_000 });
  assert.deepEqual(endOf(base, 100_000, 5, 15_000, 'forgotten'), { outcome: 'canceled', reason: 'forgotten', endedAt: 100_000 });
  assert.deepEqual(sendAttempts(base), [
    { attempt: 1, channel: 'sms', provider: 'Twilio', accepted: false },
    { attempt: 1, channel: 'call', provider: 'Sinch', accepted: false },
    { attempt: 2, channel: 'sms', provider: 'Twilio', accepted: false },
    { attempt: 2, channel: 'call', provider: 'Sinch', accepted: true },
  ]);
  assert.equal(checksOf({ attempts: 2, verifyStatus: 'verified', codeOwner: 'kit' }), 3);
  assert.equal(checksOf({ attempts: 2, verifyStatus: 'verified', codeOwner: 'provider' }), 2);
  const v = rollupOf({ ...base, verifyStatus: 'verified', verifiedAt: 42_000 }, { outcome: 'verified', endedAt: 42_000 }, 'BG');
  assert.deepEqual(v.key, { at: 0, country: 'BG', channel: 'sms', provider: 'Sinch', purpose: 'login', step: 1 }, 'no workflow: step 1');
  assert.deepEqual([v.counters.requests, v.counters.delivered, v.counters.verified, v.counters.latency[latencyBucket(42)]], [1, 1, 1, 1]);
  const f = rollupOf({ ...base, status: 'unsendable', provider: null }, { outcome: 'expired', endedAt: 300_000 }, 'BG');
  assert.deepEqual([f.key.provider, f.counters.delivered, f.counters.failed, f.counters.expired], ['', 0, 1, 1]);
});

it('request ends: a workflow row lists every step it sent, the current one from its columns', () => {
  const steps = JSON.stringify([
    { step: 0, channel: 'sms', at: 1_000, outcome: 'undelivered', provider: 'Mada', ref: 'm1', codeOwner: 'kit' },
    { step: 1, channel: 'whatsapp', at: 61_000, outcome: 'skipped', reason: 'policy' },
    { step: 2, channel: 'call', at: 62_000, outcome: 'started' },
  ]);
  const row: EndingRow = {
    id: 2, requestId: 'w', phone: '+359881234568', channel: 'call', purpose: 'login', chain: ['call:Twilio'], steps, provider: 'Twilio', codeOwner: 'kit', status: 'sent', sendAttempts: 1,
    verifyStatus: 'verified', attempts: 0, verifiedAt: 70_000, expiresAt: 300_000, createdAt: 0, updatedAt: 70_000,
  };
  assert.deepEqual(sendAttempts(row), [
    { attempt: 1, channel: 'sms', provider: 'Mada', accepted: true, step: 0 },
    { attempt: 1, channel: 'call', provider: 'Twilio', accepted: true, step: 2 },
  ]);
  // Without a workflow nothing changes.
  assert.deepEqual(sendAttempts({ ...row, steps: null }), [{ attempt: 1, channel: 'call', provider: 'Twilio', accepted: true }]);
  // The step of the rollups (1 = the first send): verified after the call began, the call's (3); a
  // verification before it, the SMS's (1); unverified, the last step sent (skipped ones never count).
  assert.equal(rollupOf(row, { outcome: 'verified', endedAt: 70_000 }, 'BG').key.step, 3);
  assert.equal(stepOf({ steps, verifiedAt: 30_000 }, { outcome: 'verified', endedAt: 30_000 }), 1);
  assert.equal(stepOf({ steps, verifiedAt: null }, { outcome: 'expired', endedAt: 300_000 }), 3);
  const skippedLast = JSON.stringify([{ step: 0, channel: 'sms', at: 1_000, outcome: 'sent' }, { step: 1, channel: 'call', at: 61_000, outcome: 'skipped', reason: 'dailySendBudget' }]);
  assert.equal(stepOf({ steps: skippedLast, verifiedAt: null }, { outcome: 'expired', endedAt: 300_000 }), 1);
  assert.equal(stepOf({ steps: null, verifiedAt: null }, { outcome: 'canceled', reason: 'superseded', endedAt: 1 }), 1);
});
