/**
 * The insights phase of `npm run bench` (issue 24), opt-in: BENCH_ONLY=insights (or BENCH_INSIGHTS=1
 * after the other phases). On MariaDB in a database of its own it seeds the rollup table
 * (`otp_insights`) as 10 million requests over 90 days would leave it, then times grouped
 * `otp.insights()` queries (the real code path: SQL, merge, prices). Target: under 200 ms.
 *
 * How many rollup rows 10 M requests make is computed honestly, not assumed: every request is drawn
 * (hour with a daily curve, destination country with a long-tailed spread over 40 countries, channel,
 * provider by the country's routing, purpose, outcome and verify latency) and counted into its
 * hourly and daily row; refusals add rows of their own (no provider, no purpose). The rows are then
 * inserted in bulk (BENCH_INSIGHTS_REQUESTS to change the 10 M).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import knexFactory from 'knex';
import { createOtp, migrateOtpTables, type InsightDimension } from '../lib/index.js';
import { latencyBucket, weekOf } from '../lib/core/insights.js';
import { ROLLUP_COUNTERS, ROLLUP_KEY } from '../lib/storage/insights-migration.js';

export interface InsightsBenchOptions {
  readonly server: string;
  readonly secret: string;
  readonly requests: number;
  readonly log: (line: string) => void;
  /** A database to keep between runs (BENCH_INSIGHTS_DB): seeded once, then only queried. */
  readonly keepDatabase?: string;
}

const COUNTRIES = ['US', 'IN', 'BR', 'DE', 'GB', 'FR', 'ID', 'MX', 'NG', 'PH', 'TR', 'IT', 'ES', 'PL', 'VN', 'EG', 'PK', 'BD', 'CO', 'AR', 'ZA', 'KE', 'NL', 'BG', 'RO', 'UA', 'SA', 'AE', 'TH', 'MY', 'CA', 'AU', 'JP', 'KR', 'SE', 'PT', 'GR', 'CZ', 'HU', 'MA'];
const PROVIDERS = ['Twilio', 'Sinch', 'Mada'];
const PURPOSES: ReadonlyArray<readonly [string, number]> = [['login', 0.7], ['signup', 0.2], ['reset-password', 0.1]];
const CHANNELS: ReadonlyArray<readonly [string, number]> = [['sms', 0.85], ['whatsapp', 0.1], ['call', 0.05]];
const HOURS = 90 * 24;
const H = 3_600_000;

/** A small seeded generator (mulberry32): the same spread on every run. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function pick<T>(r: number, weighted: ReadonlyArray<readonly [T, number]>): T {
  let acc = 0;
  for (const [value, w] of weighted) {
    acc += w;
    if (r < acc) return value;
  }
  return (weighted.at(-1) as readonly [T, number])[0];
}

type Counters = number[];
const index = new Map(ROLLUP_COUNTERS.map((c, i) => [c, i]));
const at = (c: string): number => index.get(c) ?? 0;

/** Draws every request and refusal into its hourly and daily rollup row. */
function simulate(requests: number, start: number): { rows: Map<string, Counters>; drawn: number } {
  const random = rng(24);
  const zipf = COUNTRIES.map((c, i) => [c, 1 / (i + 1) ** 1.1] as const);
  const norm = zipf.reduce((s, [, w]) => s + w, 0);
  const countries = zipf.map(([c, w]) => [c, w / norm] as const);
  // Each country is routed to a main provider (80 %) and a fallback (20 %); Mada serves sms only.
  const routing = new Map(COUNTRIES.map((c, i) => [c, [PROVIDERS[i % 3] ?? 'Twilio', PROVIDERS[(i + 1) % 3] ?? 'Sinch'] as const]));
  const curve = Array.from({ length: 24 }, (_v, h) => 0.4 + Math.sin(((h - 6) / 24) * Math.PI * 2) * 0.35 + 0.35);
  const curveSum = curve.reduce((s, v) => s + v, 0) * 90;
  const rows = new Map<string, Counters>();
  let drawn = 0;
  const add = (key: string, column: string, n = 1): void => {
    let c = rows.get(key);
    if (c === undefined) {
      c = new Array<number>(ROLLUP_COUNTERS.length).fill(0);
      rows.set(key, c);
    }
    c[at(column)] = (c[at(column)] ?? 0) + n;
  };
  for (let hour = 0; hour < HOURS; hour += 1) {
    const bucket = start + hour * H;
    const day = bucket - (bucket % 86_400_000);
    const week = weekOf(bucket);
    const n = hour === HOURS - 1 ? requests - drawn : Math.round((requests * (curve[hour % 24] ?? 1)) / curveSum);
    drawn += n;
    for (let i = 0; i < n; i += 1) {
      const country = pick(random(), countries);
      const channel = pick(random(), CHANNELS);
      const [main, fallback] = routing.get(country) ?? ['Twilio', 'Sinch'];
      let provider = random() < 0.8 ? main : fallback;
      if (provider === 'Mada' && channel !== 'sms') provider = 'Twilio';
      const purpose = pick(random(), PURPOSES);
      const delivered = random() < 0.97;
      const key = `${country}\0${channel}\0${delivered ? provider : ''}\0${purpose}`;
      const outcome = random();
      const columns = ['requests', delivered ? 'delivered' : 'failed'];
      if (delivered && outcome < 0.78) columns.push('verified', `lat_${latencyBucket(5 + random() * random() * 200)}`);
      else if (outcome < 0.93) columns.push('expired');
      else if (outcome < 0.96) columns.push('max_attempts');
      else columns.push('canceled');
      for (const column of columns) {
        add(`h\0${bucket}\0${key}`, column);
        add(`d\0${day}\0${key}`, column);
        add(`w\0${week}\0${key}`, column);
        add(`c\0${day}\0${country}\0${channel}\0${delivered ? provider : ''}\0`, column);
      }
    }
    // Refusals: about 3 % of the traffic, by reason.
    for (let i = 0; i < Math.round(n * 0.03); i += 1) {
      const country = pick(random(), countries);
      const reason = pick(random(), [['ref_limit', 0.6], ['ref_policy', 0.2], ['ref_breaker', 0.1], ['ref_challenge', 0.1]] as const);
      const key = `${country}\0sms\0\0`;
      add(`h\0${bucket}\0${key}`, reason);
      add(`d\0${day}\0${key}`, reason);
      add(`w\0${week}\0${key}`, reason);
      add(`c\0${day}\0${country}\0sms\0\0`, reason);
    }
  }
  return { rows, drawn };
}

export interface InsightsBenchResult {
  readonly requests: number;
  readonly hourlyRows: number;
  readonly dailyRows: number;
  readonly weeklyRows: number;
  readonly compactRows: number;
  readonly seedSeconds: number;
  readonly queries: ReadonlyArray<{ readonly groupBy: readonly InsightDimension[]; readonly groups: number; readonly medianMs: number; readonly maxMs: number }>;
  readonly version: string;
  readonly load: string;
}

export async function runInsightsBench(options: InsightsBenchOptions): Promise<InsightsBenchResult> {
  const { log } = options;
  const load = loadavg().map((l) => l.toFixed(1)).join(' / ');
  const keep = options.keepDatabase !== undefined && /^[a-z0-9_]+$/.test(options.keepDatabase);
  const name = keep && options.keepDatabase !== undefined ? options.keepDatabase : `otp_bench_ins_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({ client: 'mysql2', connection: options.server, pool: { min: 0, max: 1 } });
  await admin.raw(`CREATE DATABASE IF NOT EXISTS ${name}`);
  const knex = knexFactory({ client: 'mysql2', connection: `${options.server}/${name}`, pool: { min: 0, max: 4 } });
  try {
    await migrateOtpTables(knex);
    const end = Math.floor(Date.now() / 86_400_000) * 86_400_000;
    const start = end - HOURS * H;
    const seedStarted = performance.now();
    const { rows } = simulate(options.requests, start);
    const [existing] = (await knex.raw('select count(*) as n from `otp_insights`')) as [{ n: number | string }[]];
    const held = Number(existing[0]?.n ?? 0);
    if (keep && held > 0 && held !== rows.size) throw new Error(`${name} holds other rollups: drop it`);
    const seeded = keep && held === rows.size;
    const hourlyRows = [...rows.keys()].filter((k) => k.startsWith('h')).length;
    const weeklyRows = [...rows.keys()].filter((k) => k.startsWith('w')).length;
    const compactRows = [...rows.keys()].filter((k) => k.startsWith('c')).length;
    log(`insights: ${options.requests} requests make ${hourlyRows} hourly, ${rows.size - hourlyRows - weeklyRows - compactRows} daily, ${weeklyRows} weekly and ${compactRows} compact daily rollup rows; inserting`);
    const columns = [...ROLLUP_KEY, ...ROLLUP_COUNTERS, 'updated_at'];
    let batch: unknown[][] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      await knex.raw(`insert into \`otp_insights\` (${columns.map((c) => `\`${c}\``).join(', ')}) values ${batch.map((r) => `(${r.map(() => '?').join(', ')})`).join(', ')}`, batch.flat() as never[]);
      batch = [];
    };
    for (const [key, counters] of seeded ? [] : rows) {
      const [grain, bucket, country, channel, provider, purpose] = key.split('\0');
      batch.push([grain, Number(bucket), country, channel, provider, purpose, 1, ...counters, end]);
      if (batch.length >= 1000) await flush();
    }
    await flush();
    await knex.raw('analyze table `otp_insights`');
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    log(`insights: seeded in ${seedSeconds.toFixed(0)} s`);
    const otp = createOtp({ db: knex, secret: options.secret, providers: ['Console'], env: {}, prices: { currency: 'USD', default: 0.05, rates: [{ provider: 'Twilio', price: 0.0079 }, { channel: 'whatsapp', price: 0.005 }] } });
    const queries = [];
    const from = new Date(start);
    const to = new Date(end);
    for (const groupBy of [['country'], ['country', 'provider'], ['channel', 'purpose'], ['day'], ['provider', 'day'], ['country', 'day'], ['country', 'channel', 'provider', 'purpose']] as InsightDimension[][]) {
      const times: number[] = [];
      let groups = 0;
      for (let i = 0; i < 5; i += 1) {
        const t0 = performance.now();
        const result = await otp.insights({ from, to, groupBy });
        times.push(performance.now() - t0);
        groups = result.groups.length;
        if (i === 0 && groupBy.length === 1 && groupBy[0] === 'country' && result.totals.requests !== options.requests) throw new Error(`the rollups hold ${result.totals.requests} requests, not ${options.requests}`);
      }
      times.sort((a, b) => a - b);
      const medianMs = times[Math.floor(times.length / 2)] ?? 0;
      queries.push({ groupBy, groups, medianMs, maxMs: times.at(-1) ?? 0 });
      log(`insights: groupBy ${groupBy.join(',')}: ${groups} groups, median ${medianMs.toFixed(0)} ms`);
    }
    await otp.close();
    const [v] = (await knex.raw('select version() as v')) as [{ v: string }[]];
    return { load, requests: options.requests, hourlyRows, dailyRows: rows.size - hourlyRows - weeklyRows - compactRows, weeklyRows, compactRows, seedSeconds, queries, version: v[0]?.v ?? 'unknown' };
  } finally {
    await knex.destroy();
    if (!keep) await admin.raw(`DROP DATABASE IF EXISTS ${name}`);
    await admin.destroy();
  }
}

const BEGIN = '<!-- insights-bench:begin -->';
const END = '<!-- insights-bench:end -->';

export function renderInsights(r: InsightsBenchResult, when: string): string {
  return [
    '## Insights: grouped queries on 10 million requests (issue 24)',
    '',
    `\`BENCH_ONLY=insights npm run bench\`, ${when}, MariaDB ${r.version}. The rollup table as ${r.requests.toLocaleString('en')} requests over 90 days leave it`,
    `(40 countries with a long tail, 3 channels, each country routed to a main and a fallback provider, 3 purposes, a daily curve, 3 % refusals):`,
    `${r.hourlyRows.toLocaleString('en')} hourly, ${r.dailyRows.toLocaleString('en')} daily, ${r.weeklyRows.toLocaleString('en')} weekly and ${r.compactRows.toLocaleString('en')} compact daily rows (seeded in ${r.seedSeconds.toFixed(0)} s). Each query is \`otp.insights()\` over the whole 90 days`,
    `(whole weeks from the weekly rows and the days around them from the daily rows; days from the compact daily rows (no purpose, no step) unless grouped by purpose), 5 runs; load average at the start ${r.load}. Target: under 200 ms.`,
    '',
    '| groupBy | groups | median | slowest |',
    '|---|---:|---:|---:|',
    ...r.queries.map((q) => `| ${q.groupBy.join(', ')} | ${q.groups} | ${q.medianMs.toFixed(0)} ms | ${q.maxMs.toFixed(0)} ms |`),
    '',
    'The send and verify paths run no statement more than before: a request\'s end, its webhook and its rollup increment are',
    'written by the retry poller\'s end sweep (up to 1,000 ended requests a transaction), refusals are counted in memory and',
    'flushed every 5 s. What the end sweep costs when it runs in the app\'s own process is measured in "Insights: what the end sweep costs" above.',
  ].join('\n');
}

export function writeInsights(markdown: string, file: string): void {
  const section = `${BEGIN}\n\n${markdown.trimEnd()}\n\n${END}`;
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const begin = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  writeFileSync(file, begin >= 0 && end > begin ? current.slice(0, begin) + section + current.slice(end + END.length) : `${current.trimEnd()}\n\n${section}\n`);
}
