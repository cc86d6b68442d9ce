/**
 * Insight figures, pure: the JSON shape `otp.insights()` answers, the counters a rollup row holds,
 * the verify-latency histogram, and merging rollup rows into groups (sums, conversion rate,
 * median and p90 from the histogram, estimated cost through a price lookup). No I/O, no clock.
 */

/** Dimensions a query may group by. `step`: the escalation workflow step a request ended at (1 = the first send). */
export const INSIGHT_DIMENSIONS = ['country', 'channel', 'provider', 'purpose', 'step', 'day', 'hour'] as const;
export type InsightDimension = (typeof INSIGHT_DIMENSIONS)[number];

/** Refusal reasons (agreed with the fraud guard): `limit`, destination `policy`, pumping `breaker`, bot `challenge`. */
export const REFUSAL_REASONS = ['limit', 'policy', 'breaker', 'challenge'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];
export type RefusalCounts = Record<RefusalReason, number>;

/**
 * Upper bounds (exclusive, seconds) of the verify-latency histogram; the last bucket holds
 * everything from 600 s on. Resolution: 5 s up to a minute, 15 s to 2 min, 30 s to 3 min, 1 min to
 * 5 min, 2 and 3 min beyond (codes live at most 10 min). Median and p90 are interpolated inside
 * their bucket and rounded to the second.
 */
export const LATENCY_BOUNDS = [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 75, 90, 105, 120, 150, 180, 240, 300, 420, 600] as const;
export const LATENCY_BUCKETS = LATENCY_BOUNDS.length + 1;

/** The counters of one rollup row (and of a merge of rows). */
export interface RollupCounters {
  requests: number;
  delivered: number;
  verified: number;
  failed: number;
  expired: number;
  maxAttempts: number;
  canceled: number;
  refusals: RefusalCounts;
  monitored: RefusalCounts;
  /** Verifications per latency bucket (LATENCY_BOUNDS). */
  latency: number[];
}

/** A rollup row as storage reads it back (summed over the query's grouping). */
export interface RollupRow extends RollupCounters {
  /** The requested dimensions' values (day/hour already formatted). */
  readonly key: Readonly<Record<string, string>>;
  /** The group's estimated cost: storage prices it in the same query (the rates as one CASE). */
  readonly cost: number;
}

export interface InsightsGroup {
  requests: number;
  delivered: number;
  verified: number;
  /** verified / requests; null when requests = 0. */
  conversionRate: number | null;
  failed: number;
  expired: number;
  maxAttempts: number;
  canceled: number;
  verifySeconds: { median: number | null; p90: number | null };
  refusals: RefusalCounts;
  monitored: RefusalCounts;
  estimatedCost: number;
}

export interface InsightsResult {
  from: string;
  to: string;
  groupBy: InsightDimension[];
  currency: string;
  totals: InsightsGroup;
  groups: Array<InsightsGroup & { key: Record<string, string> }>;
}

export const zeroRefusals = (): RefusalCounts => ({ limit: 0, policy: 0, breaker: 0, challenge: 0 });

export function zeroCounters(): RollupCounters {
  return { requests: 0, delivered: 0, verified: 0, failed: 0, expired: 0, maxAttempts: 0, canceled: 0, refusals: zeroRefusals(), monitored: zeroRefusals(), latency: new Array<number>(LATENCY_BUCKETS).fill(0) };
}

/** The histogram bucket of a verification `seconds` after its request. */
export function latencyBucket(seconds: number): number {
  const s = Math.max(0, seconds);
  const i = LATENCY_BOUNDS.findIndex((upper) => s < upper);
  return i === -1 ? LATENCY_BOUNDS.length : i;
}

/** Adds `b` into `a` (in place) and returns `a`. */
export function addCounters(a: RollupCounters, b: RollupCounters): RollupCounters {
  a.requests += b.requests;
  a.delivered += b.delivered;
  a.verified += b.verified;
  a.failed += b.failed;
  a.expired += b.expired;
  a.maxAttempts += b.maxAttempts;
  a.canceled += b.canceled;
  for (const r of REFUSAL_REASONS) {
    a.refusals[r] += b.refusals[r];
    a.monitored[r] += b.monitored[r];
  }
  for (let i = 0; i < LATENCY_BUCKETS; i += 1) a.latency[i] = (a.latency[i] ?? 0) + (b.latency[i] ?? 0);
  return a;
}

/**
 * The `q` quantile (0..1) of a latency histogram in seconds, interpolated inside its bucket and
 * rounded to the second; null when the histogram is empty.
 */
export function quantileSeconds(latency: readonly number[], q: number): number | null {
  const total = latency.reduce((s, n) => s + n, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let before = 0;
  for (let i = 0; i < latency.length; i += 1) {
    const n = latency[i] ?? 0;
    if (n > 0 && before + n >= rank) {
      const lower = i === 0 ? 0 : (LATENCY_BOUNDS[i - 1] ?? 0);
      const upper = LATENCY_BOUNDS[i] ?? lower;
      return Math.round(lower + ((upper - lower) * (rank - before - 0.5)) / n);
    }
    before += n;
  }
  return null;
}

/** verified / requests, or null without requests. */
export const conversionRate = (verified: number, requests: number): number | null => (requests === 0 ? null : verified / requests);

/** The public figures of summed counters and their cost. */
export function toGroup(c: RollupCounters, estimatedCost: number): InsightsGroup {
  return {
    requests: c.requests,
    delivered: c.delivered,
    verified: c.verified,
    conversionRate: conversionRate(c.verified, c.requests),
    failed: c.failed,
    expired: c.expired,
    maxAttempts: c.maxAttempts,
    canceled: c.canceled,
    verifySeconds: { median: quantileSeconds(c.latency, 0.5), p90: quantileSeconds(c.latency, 0.9) },
    refusals: { ...c.refusals },
    monitored: { ...c.monitored },
    estimatedCost: roundCost(estimatedCost),
  };
}

/** Money to 6 decimals (floating sums of prices otherwise show as 0.30000000000000004). */
export const roundCost = (n: number): number => Math.round(n * 1e6) / 1e6;

const keyString = (key: Readonly<Record<string, string>>, dims: readonly string[]): string => dims.map((d) => key[d] ?? '').join('\u0000');

/** Merges rollup rows into one group per key, with totals. Groups are ordered by requests (most first), then key. */
export function mergeRollups(rows: readonly RollupRow[], dims: readonly InsightDimension[]): { totals: InsightsGroup; groups: Array<InsightsGroup & { key: Record<string, string> }> } {
  const totals = zeroCounters();
  let totalCost = 0;
  const groups = new Map<string, { key: Record<string, string>; counters: RollupCounters; cost: number }>();
  for (const row of rows) {
    const id = keyString(row.key, dims);
    addCounters(totals, row);
    totalCost += row.cost;
    let group = groups.get(id);
    if (group === undefined) {
      group = { key: Object.fromEntries(dims.map((d) => [d, row.key[d] ?? ''])), counters: zeroCounters(), cost: 0 };
      groups.set(id, group);
    }
    addCounters(group.counters, row);
    group.cost += row.cost;
  }
  const list = [...groups.values()]
    .sort((a, b) => b.counters.requests - a.counters.requests || keyString(a.key, dims).localeCompare(keyString(b.key, dims)))
    .map((g) => ({ key: g.key, ...toGroup(g.counters, g.cost) }));
  return { totals: toGroup(totals, totalCost), groups: dims.length === 0 ? [] : list };
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Start of the UTC hour / day holding `ms`. */
export const hourOf = (ms: number): number => Math.floor(ms / HOUR_MS) * HOUR_MS;
export const dayOf = (ms: number): number => Math.floor(ms / DAY_MS) * DAY_MS;

const WEEK_MS = 7 * DAY_MS;
/** Weeks start on Monday 00:00 UTC (1970-01-05 was a Monday). */
const WEEK_START_MS = 4 * DAY_MS;

/** Start of the UTC week (Monday) holding `ms`. */
export const weekOf = (ms: number): number => Math.floor((ms - WEEK_START_MS) / WEEK_MS) * WEEK_MS + WEEK_START_MS;

/**
 * A rollup row's grain: hour, day or week (Monday to Monday, UTC), each keyed by country, channel,
 * provider, purpose and workflow step; and 'c', a compact day keyed by country, channel and provider
 * only (purpose '', step 1), for every figure that needs neither purpose nor step.
 */
export type RollupGrain = 'h' | 'd' | 'w' | 'c';

/** The rows of one grain whose bucket starts in [start, end). */
export type BucketRange = readonly [RollupGrain, number, number];

/** Dimensions the compact daily rows do not keep. */
const NOT_COMPACT: readonly string[] = ['purpose', 'step'];

/**
 * The rollup rows a query reads: `coverage`'s hours and days, with the whole weeks inside the days
 * read from the weekly rows unless the query groups by day or hour (a 90-day range reads about 12
 * weekly and 12 daily buckets instead of 90 daily ones). Days come from the compact daily rows
 * when the query groups by neither purpose nor workflow step (a few times fewer rows than one per
 * purpose and step).
 */
export function rollupRanges(from: number, to: number, dims: readonly string[]): BucketRange[] {
  const cover = coverage(from, to, dims.includes('hour'));
  const ranges: BucketRange[] = cover.hours.map(([a, b]) => ['h', a, b] as const);
  if (cover.days === undefined) return ranges;
  const [firstDay, lastDay] = cover.days;
  const day: RollupGrain = dims.some((d) => NOT_COMPACT.includes(d)) ? 'd' : 'c';
  const firstWeek = weekOf(firstDay) === firstDay ? firstDay : weekOf(firstDay) + WEEK_MS;
  const lastWeek = weekOf(lastDay);
  if (dims.includes('day') || firstWeek >= lastWeek) return [...ranges, [day, firstDay, lastDay]];
  if (firstDay < firstWeek) ranges.push([day, firstDay, firstWeek]);
  ranges.push(['w', firstWeek, lastWeek]);
  if (lastWeek < lastDay) ranges.push([day, lastWeek, lastDay]);
  return ranges;
}

/** `YYYY-MM-DD` and `YYYY-MM-DDTHH:00Z` key values. */
export const dayKey = (ms: number): string => new Date(dayOf(ms)).toISOString().slice(0, 10);
export const hourKey = (ms: number): string => `${new Date(hourOf(ms)).toISOString().slice(0, 13)}:00Z`;

/**
 * Which rollup rows cover [from, to): whole UTC days from the daily rows, the hours at either end
 * from the hourly rows (all hourly when grouping by hour). Bounds are rounded to whole hours
 * (`from` down, `to` up). Ranges are [start, end) in epoch ms of the bucket start.
 */
export function coverage(from: number, to: number, byHour: boolean): { hours: Array<[number, number]>; days: [number, number] | undefined } {
  const start = hourOf(from);
  const end = hourOf(to) === to ? to : hourOf(to) + HOUR_MS;
  if (end <= start) return { hours: [], days: undefined };
  const firstDay = Math.ceil(start / DAY_MS) * DAY_MS;
  const lastDay = dayOf(end);
  if (byHour || firstDay >= lastDay) return { hours: [[start, end]], days: undefined };
  const hours: Array<[number, number]> = [];
  if (start < firstDay) hours.push([start, firstDay]);
  if (lastDay < end) hours.push([lastDay, end]);
  return { hours, days: [firstDay, lastDay] };
}
