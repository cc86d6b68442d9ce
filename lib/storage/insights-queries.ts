/**
 * The insight rollups (`otp_insights`): add increments (one upsert per batch, rows in key order so
 * concurrent writers never deadlock), read them summed by the asked dimensions, and delete those
 * past their retention. Rollup rows hold counters only: no number, code, token or IP.
 */
import type { Knex } from 'knex';
import { dayKey, dayOf, hourKey, hourOf, LATENCY_BUCKETS, REFUSAL_REASONS, weekOf, type BucketRange, type InsightDimension, type RollupCounters, type RollupGrain, type RollupRow } from '../core/insights.js';
import type { PriceRate } from '../core/insights-options.js';
import { dialectOf, type Dialect } from './db.js';
import { ROLLUP_COUNTERS, ROLLUP_KEY } from './insights-migration.js';
import type { OtpTableNames } from './migrations.js';
import { num, rowsOf, type Raw } from './sql.js';

/** What to add to one rollup row; `values` in ROLLUP_COUNTERS order. */
export interface RollupIncrement {
  readonly grain: RollupGrain;
  readonly bucket: number;
  readonly country: string;
  readonly channel: string;
  readonly provider: string;
  readonly purpose: string;
  /** The workflow step, 1 = the first send. */
  readonly step: number;
  readonly values: readonly number[];
}

const ROWS_PER_STATEMENT = 100;

const keyOf = (r: RollupIncrement): string => [r.grain, String(r.bucket).padStart(16, '0'), r.country, r.channel, r.provider, r.purpose, String(r.step).padStart(3, '0')].join('\u0000');

/** Sums increments of the same row, in key order (the inputs are left as they are). */
export function mergeIncrements(increments: readonly RollupIncrement[]): RollupIncrement[] {
  const merged = new Map<string, { inc: RollupIncrement; values: number[] }>();
  for (const inc of increments) {
    const id = keyOf(inc);
    const seen = merged.get(id);
    if (seen === undefined) {
      merged.set(id, { inc, values: [...inc.values] });
      continue;
    }
    for (let i = 0; i < seen.values.length; i += 1) seen.values[i] = (seen.values[i] ?? 0) + (inc.values[i] ?? 0);
  }
  return [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, { inc, values }]) => ({ ...inc, values }));
}

/** Adds increments to their rollup rows (created at zero when missing). */
export async function upsertRollups(knex: Knex, t: OtpTableNames, increments: readonly RollupIncrement[], now: number): Promise<void> {
  const rows = mergeIncrements(increments);
  if (rows.length === 0) return;
  const dialect = dialectOf(knex);
  const columns = [...ROLLUP_KEY, ...ROLLUP_COUNTERS, 'updated_at'];
  const q = (name: string): string => (dialect === 'mysql' ? `\`${name}\`` : `"${name}"`);
  const update =
    dialect === 'mysql'
      ? ` on duplicate key update ${ROLLUP_COUNTERS.map((c) => `${q(c)} = ${q(c)} + values(${q(c)})`).join(', ')}, ${q('updated_at')} = values(${q('updated_at')})`
      : ` on conflict (${ROLLUP_KEY.map(q).join(', ')}) do update set ${ROLLUP_COUNTERS.map((c) => `${q(c)} = ${q(t.insights)}.${q(c)} + excluded.${q(c)}`).join(', ')}, ${q('updated_at')} = excluded.${q('updated_at')}`;
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
    const one = `(${columns.map(() => '?').join(', ')})`;
    const sql = `insert into ${q(t.insights)} (${columns.map(q).join(', ')}) values ${chunk.map(() => one).join(', ')}${update}`;
    const bindings: Knex.RawBinding[] = [];
    for (const r of chunk) bindings.push(r.grain, r.bucket, r.country, r.channel, r.provider, r.purpose, r.step, ...ROLLUP_COUNTERS.map((_c, j) => r.values[j] ?? 0), now);
    await knex.raw(sql, bindings);
  }
}

export interface RollupQuery {
  readonly dims: readonly InsightDimension[];
  /** The rows to sum: per grain, buckets starting in [start, end) (lib/core/insights.ts rollupRanges). */
  readonly ranges: readonly BucketRange[];
}

const DAY_MS = 86_400_000;

/** How storage prices delivered messages: the rates most specific first (the first match wins), then `default`. */
export interface SqlPrices {
  readonly rates: readonly PriceRate[];
  readonly default: number;
}

/**
 * The cost of a row's delivered messages as one CASE over the ranked rates: '' provider (nothing
 * delivered) costs nothing. Provider names match case-insensitively (MariaDB's collation already
 * does; PostgreSQL and SQLite compare lower()).
 */
function costSql(dialect: Dialect, q: (name: string) => string, prices: SqlPrices): { sql: string; bindings: Knex.RawBinding[] } {
  const bindings: Knex.RawBinding[] = [];
  const provider = dialect === 'mysql' ? q('provider') : `lower(${q('provider')})`;
  // PostgreSQL cannot infer a bound price's type inside CASE: say it.
  const param = dialect === 'postgres' ? 'cast(? as double precision)' : '?';
  const whens = prices.rates.map((rate) => {
    const tests: Array<readonly [string, string]> = [];
    if (rate.provider !== undefined) tests.push([provider, rate.provider.toLowerCase()]);
    if (rate.channel !== undefined) tests.push([q('channel'), rate.channel]);
    if (rate.country !== undefined) tests.push([q('country'), rate.country]);
    bindings.push(...tests.map(([, value]) => value), rate.price);
    return ` when ${tests.length === 0 ? '1 = 1' : tests.map(([column]) => `${column} = ?`).join(' and ')} then ${param}`;
  });
  bindings.push(prices.default);
  const price = `(case when ${q('provider')} = '' then 0${whens.join('')} else ${param} end)`;
  // MariaDB sums doubles several times faster than exact decimals.
  return { sql: dialect === 'postgres' ? `sum(${q('delivered')} * ${price})` : `sum((${q('delivered')} + 0e0) * ${price})`, bindings };
}

/**
 * Rollup rows summed by the asked dimensions, one row per group, with the group's cost. MariaDB sums the counters as doubles (exact far beyond any count a rollup
 * holds): its exact DECIMAL sums of 38 columns were most of a 90-day query's time.
 */
export async function readRollups(knex: Knex, t: OtpTableNames, query: RollupQuery, prices: SqlPrices): Promise<RollupRow[]> {
  const { ranges } = query;
  if (ranges.length === 0) return [];
  const dialect = dialectOf(knex);
  const q = (name: string): string => (dialect === 'mysql' ? `\`${name}\`` : `"${name}"`);
  const exprOf = (dim: string): string => (dim === 'day' ? `(${q('bucket')} - (${q('bucket')} % ${DAY_MS}))` : dim === 'hour' ? q('bucket') : q(dim));
  const sumOf = (c: string): string => (dialect === 'mysql' ? `sum(${q(c)} + 0e0)` : `sum(${q(c)})`);
  const select = [...query.dims.map((d) => `${exprOf(d)} as ${q(`k_${d}`)}`), ...ROLLUP_COUNTERS.map((c) => `${sumOf(c)} as ${q(c)}`)];
  const cost = costSql(dialect, q, prices);
  select.push(`${cost.sql} as ${q('cost')}`);
  const where = ranges.map(() => `(${q('grain')} = ? and ${q('bucket')} >= ? and ${q('bucket')} < ?)`).join(' or ');
  const groupBy = query.dims.length === 0 ? '' : ` group by ${query.dims.map(exprOf).join(', ')}`;
  const sql = `select ${select.join(', ')} from ${q(t.insights)} where ${where}${groupBy}`;
  const result: unknown = await knex.raw(sql, [...cost.bindings, ...ranges.flat()]);
  return rowsOf(dialect, result).map((r) => toRollupRow(r, query.dims));
}

function keyValue(dim: InsightDimension, raw: unknown): string {
  if (dim === 'day') return dayKey(num(raw));
  if (dim === 'hour') return hourKey(num(raw));
  if (dim === 'step') return String(Math.max(1, num(raw ?? 1)));
  const text = typeof raw === 'string' ? raw : '';
  if (text !== '') return text;
  return dim === 'provider' ? 'none' : 'unknown';
}

function toRollupRow(r: Raw, dims: readonly InsightDimension[]): RollupRow {
  const v = (c: string): number => num(r[c] ?? 0);
  const reasons = (prefix: string): Record<(typeof REFUSAL_REASONS)[number], number> => ({ limit: v(`${prefix}_limit`), policy: v(`${prefix}_policy`), breaker: v(`${prefix}_breaker`), challenge: v(`${prefix}_challenge`) });
  return {
    key: Object.fromEntries(dims.map((d) => [d, keyValue(d, r[`k_${d}`])])),
    requests: v('requests'),
    delivered: v('delivered'),
    verified: v('verified'),
    failed: v('failed'),
    expired: v('expired'),
    maxAttempts: v('max_attempts'),
    canceled: v('canceled'),
    refusals: reasons('ref'),
    monitored: reasons('mon'),
    latency: Array.from({ length: LATENCY_BUCKETS }, (_x, i) => v(`lat_${i}`)),
    cost: num(r.cost ?? 0),
  };
}

/** Deletes hourly rows that began before `before`, daily and weekly ones that ended by then; answers how many. */
export async function purgeRollups(knex: Knex, t: OtpTableNames, before: number): Promise<number> {
  let deleted = 0;
  for (const [grain, last] of [['h', before - 1], ['d', before - DAY_MS], ['c', before - DAY_MS], ['w', before - 7 * DAY_MS]] as const) deleted += await knex(t.insights).where('grain', grain).andWhere('bucket', '<=', last).del();
  return deleted;
}

/** The hourly, daily, weekly and compact daily increments of counters at `key.at` (ROLLUP_COUNTERS order). */
export function rollupIncrements(key: { readonly at: number; readonly country: string; readonly channel: string; readonly provider: string; readonly purpose: string; readonly step?: number }, c: RollupCounters): RollupIncrement[] {
  const values = [
    c.requests, c.delivered, c.verified, c.failed, c.expired, c.maxAttempts, c.canceled,
    ...REFUSAL_REASONS.map((r) => c.refusals[r]), ...REFUSAL_REASONS.map((r) => c.monitored[r]), ...c.latency,
  ];
  const base = { country: key.country.slice(0, 2), channel: key.channel.slice(0, 8), provider: key.provider.slice(0, 32), purpose: key.purpose.slice(0, 64), step: key.step ?? 1, values };
  return [
    { grain: 'h', bucket: hourOf(key.at), ...base },
    { grain: 'd', bucket: dayOf(key.at), ...base },
    { grain: 'w', bucket: weekOf(key.at), ...base },
    { grain: 'c', bucket: dayOf(key.at), ...base, purpose: '', step: 1 },
  ];
}
