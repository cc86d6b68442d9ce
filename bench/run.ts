/**
 * `npm run bench`: the kit against the floor (and a peer library) on MariaDB, then the retry poller, then EXPLAIN of the
 * hot statements on MariaDB and PostgreSQL. Prints the report and writes it to bench/results/
 * (git-ignored): benchmarks-<date>.md (the figures) and details-<date>.md (with the SQL of each
 * request, the poller's statements, the profile's top functions and the EXPLAIN plans). Only
 * `npm run bench -- --write-docs` (or BENCH_WRITE_DOCS=1) also rewrites the generated sections of
 * docs/benchmarks.md (between their markers; the rest of the file is kept).
 *
 * Floor and kit are measured in BENCH_ROUNDS rounds (default 2), the order swapped every round
 * (floor then kit, kit then floor), so a machine that slows down during the run weighs on both; the
 * targets are judged on every round.
 *
 * Environment: BENCH_PEER=0 leaves out the peer (better-auth, bench/peer-app.ts), BENCH_ROUNDS (2),
 * BENCH_DURATION (seconds per phase, default 10), BENCH_WARMUP (default 3),
 * BENCH_CONNECTIONS (50), BENCH_MYSQL_URL (mysql://root@127.0.0.1:3306), BENCH_PG_URL
 * (postgres://postgres@127.0.0.1:5432/postgres), BENCH_POLLER_ROWS (10000), BENCH_POLLER_OPTIONS
 * (JSON for startRetryPoller), BENCH_POLLER_MAX_SECONDS (60), BENCH_PROFILE=0 to skip the CPU
 * profile (BENCH_PROFILE_KEEP=<file> keeps the raw .cpuprofile, BENCH_PROFILE_APP=floor profiles the floor), BENCH_POLLER=0 / BENCH_EXPLAIN=0 /
 * BENCH_LIFECYCLE=0 to skip those parts (BENCH_ONLY=lifecycle runs only the lifecycle phase, bench/lifecycle-bench.ts), BENCH_WRITE=0 to only print.
 * BENCH_ONLY=insights runs only the insights phase (bench/insights-bench.ts: grouped queries on 10 M requests' rollups); BENCH_INSIGHTS=1 adds it to a full run.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import { migrateOtpTables } from '../lib/index.js';
import { findDatabasePid, ipFor, memoryOf, phoneFor, sleep, startChild, type ChildHandle, type LoggedStatement, type StatementSnapshot } from './common.js';
import { explainOnPostgres, explainStatements, countRows, type ExplainSet, type LabelledStatement } from './explain.js';
import { migrateFloor } from './floor-app.js';
import { benchLimits } from './kit-app.js';
import { runPhase, type AppName, type NextRequest, type PhaseResult } from './load.js';
import { PEER_PATHS } from './peer-app.js';
import { runPollerBench, type PollerBenchResult } from './poller-bench.js';
import { summariseProfile, type ProfileSummary } from './profile.js';
import { renderReport, typical, writeDocsRequested, writeReport, writeResult, type AppResult, type BenchReport, type BenchRound, type StatementSample } from './report.js';
import { createSeeder } from './seed.js';
import { dbWorkProbe, type DbWorkProbe } from './db-work.js';
import { renderLifecycle, runLifecycleBench, writeLifecycle } from './lifecycle-bench.js';
import { renderInsights, runInsightsBench, writeInsights } from './insights-bench.js';

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));
const env = process.env;
/** `npm run bench -- --write-docs` or BENCH_WRITE_DOCS=1: rewrite docs/benchmarks.md too. */
const WRITE_DOCS = writeDocsRequested(process.argv.slice(2), env);
const num = (name: string, fallback: number): number => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}="${raw}" must be a positive number`);
  return value;
};

const DURATION = num('BENCH_DURATION', 10);
const WARMUP = Math.min(num('BENCH_WARMUP', 3), DURATION);
const CONNECTIONS = num('BENCH_CONNECTIONS', 50);
const SEQUENTIAL = 10;
const ROUNDS = Math.round(num('BENCH_ROUNDS', 2));
/** The peer library (bench/peer-app.ts) in every round; BENCH_PEER=0 leaves it out. */
const PEER = env.BENCH_PEER !== '0';
// phoneFor() has 30 million distinct numbers.
if (ROUNDS > 7) throw new Error(`BENCH_ROUNDS=${ROUNDS}: at most 7 rounds`);
/** Each app run of round r uses numbers from r × ROUND_SPAN (a run sends well under 2 million). */
const ROUND_SPAN = 4_000_000;
const PROFILE_FIRST_INDEX = 2_000_000;
const MYSQL_SERVER = (env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306').replace(/\/+$/, '');
/** MariaDB's work counters, read around each load phase of the main comparison (set in main). */
let probe: DbWorkProbe | undefined;
const PG_URL = env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const POLLER_OPTIONS = JSON.parse(env.BENCH_POLLER_OPTIONS ?? '{}') as Record<string, unknown>;
const SECRET = randomBytes(24).toString('base64');
const log = (line: string): void => console.error(`[bench] ${line}`);

interface AppSpec {
  readonly app: AppName;
  readonly file: string;
  readonly paths: { readonly send: string; readonly verify: string };
  readonly sendBody: (phone: string) => unknown;
  readonly verifyBody: (phone: string, code: string) => unknown;
  /** What a successful send answers (verify: 200 everywhere). */
  readonly sendStatus: number;
}

const OTP_PATHS = { send: '/otp/sms', verify: '/otp/verify' } as const;
const APPS: Readonly<Record<AppName, AppSpec>> = {
  floor: { app: 'floor', file: here('./floor-app.ts'), paths: OTP_PATHS, sendBody: (phone) => ({ phone }), verifyBody: (phone, code) => ({ phone, code }), sendStatus: 202 },
  kit: { app: 'kit', file: here('./kit-app.ts'), paths: OTP_PATHS, sendBody: (phone) => ({ phone }), verifyBody: (phone, code) => ({ phone, code }), sendStatus: 202 },
  peer: { app: 'peer', file: here('./peer-app.ts'), paths: PEER_PATHS, sendBody: (phoneNumber) => ({ phoneNumber }), verifyBody: (phoneNumber, code) => ({ phoneNumber, code }), sendStatus: 200 },
};

/** Everything for one app process: warm-up, send, verify, statements per request, peak RSS. */
async function benchApp(spec: AppSpec, url: string, dbPid: number | undefined, firstIndex: number, execArgv: readonly string[] = [], durations = { warmup: WARMUP, phase: DURATION }): Promise<AppResult> {
  const child = await startChild(spec.file, { DATABASE_URL: url, BENCH_SECRET: SECRET, NODE_ENV: 'production' }, execArgv);
  // Before any load: what loading the app costs.
  const readyRssKb = memoryOf(child.pid).rssKb;
  let peakRssKb = 0;
  const sampler = setInterval(() => {
    peakRssKb = Math.max(peakRssKb, memoryOf(child.pid).rssKb);
  }, 100);
  try {
    let index = firstIndex;
    const sendNext = (): NextRequest => {
      const i = index;
      index += 1;
      return { body: JSON.stringify(spec.sendBody(phoneFor(i))), ip: ipFor(i) };
    };
    const codes: [string, string][] = [];
    let cursor = 0;
    let verifyIp = 0;
    const verifyNext = (): NextRequest | undefined => {
      const entry = codes[cursor];
      if (entry === undefined) return undefined;
      cursor += 1;
      verifyIp += 1;
      return { body: JSON.stringify(spec.verifyBody(entry[0], entry[1])), ip: ipFor(65_536 + verifyIp) };
    };
    const take = async (): Promise<void> => {
      codes.push(...(await child.call<[string, string][]>('take-codes')));
    };
    const phase = (kind: 'send' | 'verify', duration: number): Promise<PhaseResult> =>
      runPhase({
        app: spec.app,
        kind,
        child,
        dbPid,
        path: spec.paths[kind],
        duration,
        connections: CONNECTIONS,
        next: kind === 'send' ? sendNext : verifyNext,
        successStatus: kind === 'send' ? spec.sendStatus : 200,
        probe,
      });

    log(`${spec.app}: warm-up send ${durations.warmup} s`);
    await phase('send', durations.warmup);
    log(`${spec.app}: send ${durations.phase} s`);
    const sendStart = await child.call<number>('now');
    const send = await phase('send', durations.phase);
    const sendEnd = await child.call<number>('now');
    const peakNow = (): string => `peak RSS so far ${(memoryOf(child.pid).peakKb / 1024).toFixed(1)} MB`;
    log(`${spec.app}: send ${send.rps.toFixed(0)} req/s, p99 ${send.p99} ms, ${peakNow()}`);
    await take();
    log(`${spec.app}: warm-up verify ${durations.warmup} s`);
    const warm = await phase('verify', durations.warmup);
    // Enough live codes for the measured verify phase at the warm-up rate, with room to spare.
    const wanted = Math.ceil(Math.max(warm.rps, send.rps) * durations.phase * 1.6) + 2_000;
    const missing = wanted - (codes.length - cursor);
    if (missing > 0) {
      log(`${spec.app}: preparing ${missing} live codes in process`);
      const prepared = await child.call<{ ok: number; failed: number; firstError?: string }>('prepare', { from: index, count: missing, concurrency: 32 });
      index += missing;
      log(`${spec.app}: prepared, ${peakNow()}`);
      if (prepared.failed > 0) log(`${spec.app}: ${prepared.failed} prepared sends failed: ${prepared.firstError ?? ''}`);
      await take();
    }
    log(`${spec.app}: verify ${durations.phase} s (${codes.length - cursor} live codes)`);
    const verifyStart = await child.call<number>('now');
    const verify = await phase('verify', durations.phase);
    const verifyEnd = await child.call<number>('now');
    log(`${spec.app}: verify ${verify.rps.toFixed(0)} req/s, p99 ${verify.p99} ms${verify.exhausted ? ' (codes ran out)' : ''}, ${peakNow()}`);

    // Let requests still in flight from the last phase finish before counting one at a time.
    await sleep(1_000);
    const statements = await sequentialStatements(spec, child, index);
    index += SEQUENTIAL;
    peakRssKb = Math.max(peakRssKb, memoryOf(child.pid).peakKb);
    return { app: spec.app, send, verify, readyRssKb, peakRssKb, statements, windows: { send: [sendStart, sendEnd], verify: [verifyStart, verifyEnd] } };
  } finally {
    clearInterval(sampler);
    await child.exit();
  }
}

/** Sequential sends and verifies over HTTP, each with its own statement count and SQL. */
async function sequentialStatements(spec: AppSpec, child: ChildHandle, from: number): Promise<{ send: StatementSample[]; verify: StatementSample[] }> {
  const base = `http://127.0.0.1:${child.port}`;
  const one = async (path: string, body: unknown, ip: string): Promise<StatementSample> => {
    await child.call('stats-reset', { log: true });
    const response = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': ip }, body: JSON.stringify(body) });
    await response.arrayBuffer();
    await sleep(20); // anything the server does right after answering
    const snap = await child.call<StatementSnapshot>('stats');
    return { status: response.status, knex: snap.knex, driver: snap.driver, sql: snap.sql, driverSql: snap.driverSql };
  };
  const send: StatementSample[] = [];
  for (let k = 0; k < SEQUENTIAL; k += 1) send.push(await one(spec.paths.send, spec.sendBody(phoneFor(from + k)), ipFor(100_000 + k)));
  const codes = new Map(await child.call<[string, string][]>('take-codes'));
  const verify: StatementSample[] = [];
  for (let k = 0; k < SEQUENTIAL; k += 1) {
    const phone = phoneFor(from + k);
    verify.push(await one(spec.paths.verify, spec.verifyBody(phone, codes.get(phone) ?? '000000'), ipFor(110_000 + k)));
  }
  return { send, verify };
}

/** A shorter profiled kit run (`--cpu-prof`), summarised over the load window only. */
async function profileKit(url: string, dbPid: number | undefined, firstIndex: number): Promise<ProfileSummary | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'otp-bench-prof-'));
  try {
    const seconds = Math.min(DURATION, 5);
    // BENCH_PROFILE_APP=floor profiles the floor instead, to compare the two.
    const app = env.BENCH_PROFILE_APP === 'floor' || env.BENCH_PROFILE_APP === 'peer' ? env.BENCH_PROFILE_APP : 'kit';
    const result = await benchApp(APPS[app], url, dbPid, firstIndex, ['--cpu-prof', '--cpu-prof-dir', dir], { warmup: Math.min(WARMUP, 2), phase: seconds });
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) return undefined;
    // BENCH_PROFILE_KEEP=<file>: keep the raw profile (open it in Chrome DevTools) as well.
    if (env.BENCH_PROFILE_KEEP !== undefined && env.BENCH_PROFILE_KEEP !== '') copyFileSync(join(dir, file), env.BENCH_PROFILE_KEEP);
    return summariseProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown, result.windows);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The installed better-auth version (the peer). */
function peerVersion(): string {
  const pkg = JSON.parse(readFileSync(here('../node_modules/better-auth/package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

async function mysqlVersion(knex: Knex): Promise<string> {
  const [rows] = (await knex.raw('select version() as v')) as [{ v: string }[]];
  return rows[0]?.v ?? 'unknown';
}

/** The lifecycle phase (bench/lifecycle-bench.ts) in a database of its own; BENCH_LIFECYCLE=0 skips it. */
async function lifecyclePhase(): Promise<void> {
  const result = await runLifecycleBench({ server: MYSQL_SERVER, secret: SECRET, rows: num('BENCH_LIFECYCLE_ROWS', 2_000_000), duration: DURATION, warmup: WARMUP, connections: CONNECTIONS, maxSeconds: num('BENCH_LIFECYCLE_MAX_SECONDS', 900), log });
  const date = new Date().toISOString();
  const markdown = renderLifecycle(result, date);
  console.log(markdown);
  if (env.BENCH_WRITE === '0') return;
  log(`wrote ${writeResult(here('..'), 'lifecycle', date, markdown)}`);
  if (WRITE_DOCS) writeLifecycle(markdown, here('../docs/benchmarks.md'));
}

/** The insights phase (bench/insights-bench.ts): opt-in, BENCH_ONLY=insights or BENCH_INSIGHTS=1. */
async function insightsPhase(): Promise<void> {
  const result = await runInsightsBench({ server: MYSQL_SERVER, secret: SECRET, requests: num('BENCH_INSIGHTS_REQUESTS', 10_000_000), log, keepDatabase: env.BENCH_INSIGHTS_DB });
  const markdown = renderInsights(result, new Date().toISOString());
  console.log(markdown);
  if (env.BENCH_WRITE !== '0') writeInsights(markdown, here('../docs/benchmarks.md'));
}

async function main(): Promise<void> {
  // BENCH_ONLY=lifecycle (`npm run bench:lifecycle`): only the lifecycle phase.
  if (env.BENCH_ONLY === 'lifecycle') return lifecyclePhase();
  if (env.BENCH_ONLY === 'insights') return insightsPhase();
  const started = Date.now();
  const load = loadavg();
  const name = `otp_bench_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({ client: 'mysql2', connection: MYSQL_SERVER, pool: { min: 0, max: 1 } });
  await admin.raw(`CREATE DATABASE ${name}`);
  const url = `${MYSQL_SERVER}/${name}`;
  const knex = knexFactory({ client: 'mysql2', connection: url, pool: { min: 0, max: 4 } });
  log(`database ${name}; ${DURATION} s per phase, ${CONNECTIONS} connections`);
  try {
    await migrateOtpTables(knex);
    await migrateFloor(knex);
    const dbPid = findDatabasePid();
    probe = dbWorkProbe(MYSQL_SERVER);
    const rounds: BenchRound[] = [];
    for (let r = 0; r < ROUNDS; r += 1) {
      const first = r * ROUND_SPAN;
      const results = new Map<AppName, AppResult>();
      // Swapped every round: a machine that slows down during the run weighs on every app.
      const order: AppName[] = PEER ? ['floor', 'kit', 'peer'] : ['floor', 'kit'];
      for (const app of r % 2 === 0 ? order : order.reverse()) {
        log(`round ${r + 1} of ${ROUNDS}: ${app}`);
        results.set(app, await benchApp(APPS[app], url, dbPid, first));
      }
      const peer = results.get('peer');
      rounds.push({ floor: results.get('floor') as AppResult, kit: results.get('kit') as AppResult, ...(peer === undefined ? {} : { peer }) });
    }
    const { kit } = rounds[0] as BenchRound;
    const profile = env.BENCH_PROFILE === '0' ? undefined : await profileKit(url, dbPid, PROFILE_FIRST_INDEX);

    let poller: PollerBenchResult | undefined;
    if (env.BENCH_POLLER !== '0') {
      poller = await runPollerBench({
        url,
        knex,
        secret: SECRET,
        rows: num('BENCH_POLLER_ROWS', 10_000),
        processes: [1, 2],
        maxSeconds: num('BENCH_POLLER_MAX_SECONDS', 60),
        pollerOptions: POLLER_OPTIONS,
        log,
      });
    }

    const explains: ExplainSet[] = [];
    if (env.BENCH_EXPLAIN !== '0') {
      log('EXPLAIN on MariaDB');
      const seeder = createSeeder(knex, SECRET);
      await seeder.seed({ count: 1_000, from: 7_000_000, due: true, purpose: 'bench-due' });
      await seeder.close();
      const label = (what: string, list: readonly LoggedStatement[]): LabelledStatement[] => list.map((s) => ({ ...s, label: what }));
      const captured = [
        ...label('send', typical(kit.statements.send).sample?.sql ?? []),
        ...label('verify', typical(kit.statements.verify).sample?.sql ?? []),
        ...label('poller', (poller?.runs[0]?.shapes ?? []).map(({ sql, bindings }) => ({ sql, bindings }))),
      ];
      explains.push({ database: `MariaDB ${await mysqlVersion(knex)}`, rowsInTable: await countRows(knex), statements: await explainStatements(knex, 'mysql', captured) });
      log('EXPLAIN on PostgreSQL');
      explains.push(await explainOnPostgres(PG_URL, SECRET, POLLER_OPTIONS));
    }

    const report: BenchReport = {
      date: new Date(started).toISOString(),
      minutes: (Date.now() - started) / 60_000,
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGb: totalmem() / 2 ** 30, loadAtStart: load, loadAtEnd: loadavg() },
      node: process.version,
      mariadb: await mysqlVersion(knex),
      settings: { duration: DURATION, warmup: WARMUP, connections: CONNECTIONS, kitLimits: JSON.stringify(benchLimits()), ...(PEER ? { peer: `better-auth ${peerVersion()}` } : {}) },
      rounds,
      ...(profile === undefined ? {} : { profile }),
      ...(poller === undefined ? {} : { poller }),
      explains,
    };
    const markdown = renderReport(report, false);
    console.log(markdown);
    if (env.BENCH_WRITE !== '0') {
      log(`wrote ${writeResult(here('..'), 'benchmarks', report.date, markdown)}`);
      log(`wrote ${writeResult(here('..'), 'details', report.date, renderReport(report, true))}`);
      if (WRITE_DOCS) log(`wrote ${writeReport(markdown, here('../docs/benchmarks.md'))}`);
      else log('docs/benchmarks.md left as it is (npm run bench -- --write-docs, or BENCH_WRITE_DOCS=1, rewrites it)');
    }
    if (env.BENCH_LIFECYCLE !== '0') await lifecyclePhase();
    if (env.BENCH_INSIGHTS === '1') await insightsPhase();
  } finally {
    await probe?.close();
    probe = undefined;
    await knex.destroy();
    await admin.raw(`DROP DATABASE IF EXISTS ${name}`);
    await admin.destroy();
  }
}

await main();
