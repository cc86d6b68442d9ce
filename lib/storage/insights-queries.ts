/**
 * The insight rollups (`otp_insights`): add increments (one upsert per batch, rows in key order so
 * concurrent writers never deadlock), read them summed by the asked dimensions, and delete those
 * past their retention. Rollup rows hold counters only: no number, code, token or IP.
 */
import type { Knex } from 'knex';
import { dayKey, dayOf, hourKey, hourOf, LATENCY_BUCKETS, REFUSAL_REASONS, type InsightDimension, type RollupCounters, type RollupRow } from '../core/insights.js';
import { dialectOf } from './db.js';
import { ROLLUP_COUNTERS, ROLLUP_KEY } from './insights-migration.js';
import type { OtpTableNames } from './migrations.js';
import { num, rowsOf, type Raw } from './sql.js';

/** What to add to one rollup row; `values` in ROLLUP_COUNTERS order. */
export interface RollupIncrement {
  readonly grain: 'h' | 'd';
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

/** Sums increments of the same row, in key order. */
export function mergeIncrements(increments: readonly RollupIncrement[]): RollupIncrement[] {
  const merged = new Map<string, RollupIncrement>();
  for (const inc of increments) {
    const id = keyOf(inc);
    const seen = merged.get(id);
    merged.set(id, seen === undefined ? inc : { ...seen, values: seen.values.map((v, i) => v + (inc.values[i] ?? 0)) });
  }
  return [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, inc]) => inc);
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
  /** Hourly rows of these bucket ranges, [start, end). */
  readonly hours: ReadonlyArray<readonly [number, number]>;
  /** Daily rows of this range, [start, end). */
  readonly days: readonly [number, number] | undefined;
}

const DAY_MS = 86_400_000;

/**
 * Rollup rows summed by the asked dimensions (`step` is grouped on only when asked); with `pricing`, also by country, channel and provider
 * (what the prices need). Without it the answer has one row per group only (country, channel and
 * provider are '' unless asked for).
 */
export async function readRollups(knex: Knex, t: OtpTableNames, query: RollupQuery, pricing = false): Promise<RollupRow[]> {
  const ranges: Array<readonly ['h' | 'd', number, number]> = [...query.hours.map(([a, b]) => ['h', a, b] as const), ...(query.days === undefined ? [] : [['d', query.days[0], query.days[1]] as const])];
  if (ranges.length === 0) return [];
  const dialect = dialectOf(knex);
  const q = (name: string): string => (dialect === 'mysql' ? `\`${name}\`` : `"${name}"`);
  const exprOf = (dim: string): string => (dim === 'day' ? `(${q('bucket')} - (${q('bucket')} % ${DAY_MS}))` : dim === 'hour' ? q('bucket') : q(dim));
  const grouped = [...new Set<string>([...query.dims, ...(pricing ? ['country', 'channel', 'provider'] : [])])];
  const counters = pricing ? ['delivered'] : ROLLUP_COUNTERS;
  const select = [...grouped.map((d) => `${exprOf(d)} as ${q(`k_${d}`)}`), ...counters.map((c) => `sum(${q(c)}) as ${q(c)}`)];
  const where = ranges.map(() => `(${q('grain')} = ? and ${q('bucket')} >= ? and ${q('bucket')} < ?)`).join(' or ');
  const groupBy = grouped.length === 0 ? '' : ` group by ${grouped.map(exprOf).join(', ')}`;
  const sql = `select ${select.join(', ')} from ${q(t.insights)} where ${where}${pricing ? ` and ${q('delivered')} > 0` : ''}${groupBy}`;
  const result: unknown = await knex.raw(sql, ranges.flat());
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
    country: typeof r.k_country === 'string' ? r.k_country : '',
    channel: typeof r.k_channel === 'string' ? r.k_channel : '',
    provider: typeof r.k_provider === 'string' ? r.k_provider : '',
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
  };
}

/** Deletes rollup rows (hourly and daily) of buckets that began before `before`; answers how many. */
export async function purgeRollups(knex: Knex, t: OtpTableNames, before: number): Promise<number> {
  let deleted = 0;
  for (const grain of ['h', 'd']) deleted += await knex(t.insights).where('grain', grain).andWhere('bucket', '<', grain === 'd' ? before - DAY_MS + 1 : before).del();
  return deleted;
}

/** The hourly and daily increments of counters at `key.at` (ROLLUP_COUNTERS order). */
export function rollupIncrements(key: { readonly at: number; readonly country: string; readonly channel: string; readonly provider: string; readonly purpose: string; readonly step?: number }, c: RollupCounters): RollupIncrement[] {
  const values = [
    c.requests, c.delivered, c.verified, c.failed, c.expired, c.maxAttempts, c.canceled,
    ...REFUSAL_REASONS.map((r) => c.refusals[r]), ...REFUSAL_REASONS.map((r) => c.monitored[r]), ...c.latency,
  ];
  const base = { country: key.country.slice(0, 2), channel: key.channel.slice(0, 8), provider: key.provider.slice(0, 32), purpose: key.purpose.slice(0, 64), step: key.step ?? 1, values };
  return [
    { grain: 'h', bucket: hourOf(key.at), ...base },
    { grain: 'd', bucket: dayOf(key.at), ...base },
  ];
}
