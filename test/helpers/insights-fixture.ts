/**
 * A stand-in for `otp.insights()` and `otp.holds()` for the dashboard's tests, until the insights
 * and fraud-guard branches land: a known dataset of request and refusal rows, and the Insights
 * contract (lib/core/insights-report.ts) computed from it by straightforward counting. The router
 * and the page are tested against these figures; the insights branch tests its own SQL.
 */
import { OtpEvents } from '../../lib/events.js';
import { silentLogger } from '../../lib/logger.js';
import { REFUSAL_REASONS, type Hold, type InsightsDimension, type InsightsGroup, type InsightsQuery, type InsightsReport, type RefusalReason } from '../../lib/core/insights-report.js';
import type { OtpInsightsSource } from '../../lib/http/insights-router.js';

export interface FixtureRequest {
  readonly at: number;
  readonly country: string;
  readonly channel: 'sms' | 'call' | 'whatsapp';
  readonly provider: string;
  readonly purpose: string;
  readonly outcome: 'verified' | 'expired' | 'max_attempts_reached' | 'canceled' | 'failed';
  /** Seconds from send to verification (verified rows). */
  readonly verifySeconds: number | null;
  readonly cost: number;
}

export interface FixtureRefusal {
  readonly at: number;
  readonly country: string;
  readonly channel: 'sms' | 'call' | 'whatsapp';
  readonly reason: RefusalReason;
  readonly monitored: boolean;
}

const HOUR = 3_600_000;

/** Country → [requests per day, conversion, provider, price per SMS]. NG looks like SMS pumping. */
const PROFILE: ReadonlyArray<readonly [string, number, number, string, number]> = [
  ['BG', 42, 0.86, 'Mada', 0.041],
  ['DE', 27, 0.81, 'Twilio', 0.075],
  ['US', 24, 0.77, 'Twilio', 0.0079],
  ['GB', 18, 0.83, 'Sinch', 0.038],
  ['FR', 12, 0.74, 'Sinch', 0.069],
  ['NG', 15, 0.18, 'Sinch', 0.21],
  ['ZZ', 3, 0.65, 'Twilio', 0.05],
];

/** A deterministic pseudo-random sequence (the dataset must be the same on every run). */
function sequence(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Requests and refusals over the 30 days before `now`, busier in the day than at night. */
export function fixtureDataset(now: number): { requests: FixtureRequest[]; refusals: FixtureRefusal[] } {
  const next = sequence(24);
  const requests: FixtureRequest[] = [];
  const refusals: FixtureRefusal[] = [];
  const start = Math.floor(now / HOUR) * HOUR - 30 * 24 * HOUR;
  for (let hour = 0; hour < 30 * 24; hour += 1) {
    const at = start + hour * HOUR;
    const daytime = Math.sin(((new Date(at).getUTCHours() - 6) / 24) * 2 * Math.PI) * 0.6 + 1;
    const growth = 0.7 + (hour / (30 * 24)) * 0.6;
    for (const [country, perDay, conversion, provider, price] of PROFILE) {
      const expected = (perDay / 24) * daytime * growth;
      const n = Math.floor(expected) + (next() < expected % 1 ? 1 : 0);
      for (let i = 0; i < n; i += 1) {
        const roll = next();
        const channel = roll < 0.1 ? 'call' : roll < 0.18 ? 'whatsapp' : 'sms';
        const outcomeRoll = next();
        const outcome = outcomeRoll < conversion ? 'verified' : outcomeRoll < conversion + 0.04 ? 'failed' : outcomeRoll < conversion + 0.09 ? 'max_attempts_reached' : outcomeRoll < conversion + 0.12 ? 'canceled' : 'expired';
        requests.push({
          at: at + Math.floor(next() * HOUR),
          country,
          channel,
          provider: channel === 'whatsapp' ? 'Twilio' : provider,
          purpose: next() < 0.7 ? 'login' : 'delete-account',
          outcome,
          verifySeconds: outcome === 'verified' ? Math.round(8 + next() * next() * 110) : null,
          cost: outcome === 'failed' ? 0 : channel === 'call' ? price * 2 : price,
        });
      }
    }
    if (next() < 0.35) refusals.push({ at: at + 60_000, country: next() < 0.6 ? 'NG' : 'US', channel: 'sms', reason: 'limit', monitored: false });
    if (next() < 0.12) refusals.push({ at: at + 120_000, country: 'NG', channel: 'sms', reason: 'breaker', monitored: next() < 0.5 });
    if (next() < 0.1) refusals.push({ at: at + 180_000, country: 'ZZ', channel: 'sms', reason: 'policy', monitored: false });
    if (next() < 0.2) refusals.push({ at: at + 240_000, country: 'DE', channel: 'sms', reason: 'challenge', monitored: next() < 0.7 });
    if (next() < 0.15) refusals.push({ at: at + 300_000, country: 'NG', channel: 'sms', reason: 'limit', monitored: true });
  }
  return { requests, refusals };
}

function zero(): Record<RefusalReason, number> {
  return { limit: 0, policy: 0, breaker: 0, challenge: 0 };
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? null;
}

function groupOf(requests: readonly FixtureRequest[], refusals: readonly FixtureRefusal[]): InsightsGroup {
  const count = (outcome: FixtureRequest['outcome']): number => requests.filter((r) => r.outcome === outcome).length;
  const times = requests.flatMap((r) => (r.verifySeconds === null ? [] : [r.verifySeconds])).sort((a, b) => a - b);
  const refused = zero();
  const monitored = zero();
  for (const r of refusals) (r.monitored ? monitored : refused)[r.reason] += 1;
  const verified = count('verified');
  return {
    requests: requests.length,
    delivered: requests.length - count('failed'),
    verified,
    conversionRate: requests.length === 0 ? null : verified / requests.length,
    failed: count('failed'),
    expired: count('expired'),
    maxAttempts: count('max_attempts_reached'),
    canceled: count('canceled'),
    verifySeconds: { median: percentile(times, 0.5), p90: percentile(times, 0.9) },
    refusals: refused,
    monitored,
    estimatedCost: Math.round(requests.reduce((sum, r) => sum + r.cost, 0) * 10_000) / 10_000,
  };
}

function keyOf(row: { at: number; country: string; channel: string; provider?: string; purpose?: string; step?: number }, dims: readonly InsightsDimension[]): Record<string, string> {
  const iso = new Date(row.at).toISOString();
  const values: Record<InsightsDimension, string> = {
    country: row.country,
    channel: row.channel,
    provider: row.provider ?? 'none',
    purpose: row.purpose ?? 'none',
    step: String(row.step ?? 1),
    day: iso.slice(0, 10),
    hour: `${iso.slice(0, 13)}:00Z`,
  };
  return Object.fromEntries(dims.map((d) => [d, values[d]]));
}

/** The Insights contract over the dataset: exact counts of the rows in [from, to). */
export function computeInsights(data: { requests: readonly FixtureRequest[]; refusals: readonly FixtureRefusal[] }, query: InsightsQuery): InsightsReport {
  const from = query.from.getTime();
  const to = query.to.getTime();
  const requests = data.requests.filter((r) => r.at >= from && r.at < to);
  const refusals = data.refusals.filter((r) => r.at >= from && r.at < to);
  const buckets = new Map<string, { key: Record<string, string>; requests: FixtureRequest[]; refusals: FixtureRefusal[] }>();
  const bucket = (key: Record<string, string>) => {
    const id = JSON.stringify(key);
    let b = buckets.get(id);
    if (b === undefined) buckets.set(id, (b = { key, requests: [], refusals: [] }));
    return b;
  };
  if (query.groupBy.length > 0) {
    for (const r of requests) bucket(keyOf(r, query.groupBy)).requests.push(r);
    for (const r of refusals) bucket(keyOf(r, query.groupBy)).refusals.push(r);
  }
  return {
    from: query.from.toISOString(),
    to: query.to.toISOString(),
    groupBy: [...query.groupBy],
    currency: 'EUR',
    totals: groupOf(requests, refusals),
    groups: [...buckets.values()].map((b) => ({ key: b.key, ...groupOf(b.requests, b.refusals) })),
  };
}

export interface InsightsFixture extends OtpInsightsSource {
  readonly data: { requests: FixtureRequest[]; refusals: FixtureRefusal[] };
  readonly events: OtpEvents;
  readonly config: { readonly clock: () => number };
  /** The queries the router passed on. */
  readonly queries: InsightsQuery[];
}

/** A source for `otpInsightsRouter`: the dataset's insights, some holds, and provider events to emit. */
export function insightsFixture(now: () => number = Date.now, holds?: readonly Hold[]): InsightsFixture {
  const data = fixtureDataset(now());
  const queries: InsightsQuery[] = [];
  const t = now();
  const iso = (ms: number): string => new Date(ms).toISOString();
  const current: readonly Hold[] = holds ?? [
    { kind: 'range', target: '+2348031', reason: 'conversion 12% over 40 sends (breaker)', since: iso(t - 2 * HOUR), until: iso(t + 4 * HOUR) },
    { kind: 'range', target: '+2347062', reason: 'conversion 9% over 25 sends (breaker)', since: iso(t - 40 * 60_000), until: iso(t + 80 * 60_000) },
    { kind: 'number', target: '+35987*****67', reason: 'verifyLock: 5 wrong codes', since: iso(t - 5 * 60_000), until: iso(t + 10 * 60_000) },
  ];
  return {
    data,
    queries,
    events: new OtpEvents(silentLogger),
    config: { clock: now },
    insights(query) {
      queries.push(query);
      return Promise.resolve(computeInsights(data, query));
    },
    holds() {
      return Promise.resolve(current);
    },
  };
}

export { REFUSAL_REASONS };
