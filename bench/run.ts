/**
 * `npm run bench`: the kit against the floor (and a peer library) on MariaDB, then the retry poller, then EXPLAIN of the
 * hot statements on MariaDB and PostgreSQL. Prints the report and writes it to bench/results/
 * (git-ignored): benchmarks-<date>.md (the figures) and details-<date>.md (with the SQL of each
 * request, the poller's statements, the profile's top functions and the EXPLAIN plans). Only
 * `npm run bench -- --write-docs` (or BENCH_WRITE_DOCS=1) also rewrites the generated sections of
 * docs/benchmarks.md (between their markers; the rest of the file is kept).
 *
 * Floor and kit are measured in BENCH_ROUNDS rounds (default 2). In a round both servers run at once
 * and the load goes to one at a time in short chunks, in mirrored order (floor, kit, kit, floor, …;
 * BENCH_CHUNKS chunks of BENCH_DURATION / BENCH_CHUNKS seconds per app and phase, bench/app-session.ts),
 * and the first app swaps every round, so a machine whose speed drifts weighs on both alike; the
 * targets are judged on every round.
 *
 * Environment: BENCH_PEER=0 leaves out the peer (better-auth, bench/peer-app.ts), BENCH_ROUNDS (2),
 * BENCH_DURATION (seconds per phase and app, default 10), BENCH_CHUNKS (4), BENCH_WARMUP (default 3),
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
import { findDatabasePid, type LoggedStatement } from './common.js';
import { mergePhases, openSession, type AppSession, type AppSpec, type SessionSettings } from './app-session.js';
import { explainOnPostgres, explainStatements, countRows, type ExplainSet, type LabelledStatement } from './explain.js';
import { migrateFloor } from './floor-app.js';
import { benchLimits } from './kit-app.js';
import type { AppName, PhaseResult } from './load.js';
import { PEER_PATHS } from './peer-app.js';
import { runPollerBench, type PollerBenchResult } from './poller-bench.js';
import { summariseProfile, type ProfileSummary } from './profile.js';
import { renderReport, typical, writeDocsRequested, writeReport, writeResult, type AppResult, type BenchReport, type BenchRound } from './report.js';
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
/** Chunks per app per phase in a round (BENCH_CHUNKS): the apps take turns this many times. */
const CHUNKS = Math.round(num('BENCH_CHUNKS', 4));
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

const OTP_PATHS = { send: '/otp/sms', verify: '/otp/verify' } as const;
const APPS: Readonly<Record<AppName, AppSpec>> = {
  floor: { app: 'floor', file: here('./floor-app.ts'), paths: OTP_PATHS, sendBody: (phone) => ({ phone }), verifyBody: (phone, code) => ({ phone, code }), sendStatus: 202 },
  kit: { app: 'kit', file: here('./kit-app.ts'), paths: OTP_PATHS, sendBody: (phone) => ({ phone }), verifyBody: (phone, code) => ({ phone, code }), sendStatus: 202 },
  peer: { app: 'peer', file: here('./peer-app.ts'), paths: PEER_PATHS, sendBody: (phoneNumber) => ({ phoneNumber }), verifyBody: (phoneNumber, code) => ({ phoneNumber, code }), sendStatus: 200 },
};

/** How the apps' sessions reach the server and the database (set in main). */
let sessionSettings: SessionSettings | undefined;
const settingsOrFail = (): SessionSettings => {
  if (sessionSettings === undefined) throw new Error('session settings are set in main');
  return sessionSettings;
};

/** Live codes wanted for a verify phase of `seconds` at the rates seen so far, with room to spare (a verify can outrun the sends and its warm-up). */
const codesWanted = (rps: number, seconds: number): number => Math.ceil(rps * seconds * 2.5) + 2_000;

/**
 * One app alone from start to end (the profile run): warm-up, send, verify, statements per
 * request, peak RSS, and the load windows in the server's clock.
 */
async function benchApp(spec: AppSpec, firstIndex: number, execArgv: readonly string[], durations: { warmup: number; phase: number }): Promise<AppResult> {
  const session = await openSession(spec, firstIndex, { ...settingsOrFail(), execArgv });
  try {
    await session.phase('send', durations.warmup);
    const sendStart = await session.now();
    const send = await session.phase('send', durations.phase);
    const sendEnd = await session.now();
    await session.collectCodes();
    const warm = await session.phase('verify', durations.warmup);
    await session.topUpCodes(codesWanted(Math.max(warm.rps, send.rps), durations.phase));
    const verifyStart = await session.now();
    const verify = await session.phase('verify', durations.phase);
    const verifyEnd = await session.now();
    const statements = await session.sequentialStatements();
    return { app: spec.app, send, verify, readyRssKb: session.readyRssKb, peakRssKb: await session.close(), statements, windows: { send: [sendStart, sendEnd], verify: [verifyStart, verifyEnd] } };
  } catch (error) {
    await session.close();
    throw error;
  }
}

/**
 * One round: every app's server at once, the load to one at a time. Each phase is CHUNKS chunks of
 * DURATION / CHUNKS seconds per app, in mirrored order (floor, kit, kit, floor, …; a round that
 * starts with the kit mirrors that), so a machine whose speed drifts during the round weighs on
 * every app alike; each app's chunks add up to its phase (`mergePhases`).
 */
async function benchRound(specs: readonly AppSpec[], firstIndex: number): Promise<Map<AppName, AppResult>> {
  const sessions: AppSession[] = [];
  try {
    for (const spec of specs) sessions.push(await openSession(spec, firstIndex, settingsOrFail()));
    const chunkSeconds = DURATION / CHUNKS;
    /** Chunk k's order: the apps forwards in even chunks, backwards in odd ones. */
    const rotation = (k: number): AppSession[] => (k % 2 === 0 ? sessions : [...sessions].reverse());
    const loaded = async (kind: 'send' | 'verify'): Promise<Map<AppSession, PhaseResult>> => {
      const chunks = new Map<AppSession, PhaseResult[]>(sessions.map((s) => [s, []]));
      for (let k = 0; k < CHUNKS; k += 1) for (const s of rotation(k)) chunks.get(s)?.push(await s.phase(kind, chunkSeconds));
      const merged = new Map([...chunks].map(([s, list]) => [s, mergePhases(list)]));
      for (const [s, p] of merged) log(`${s.spec.app}: ${kind} ${p.rps.toFixed(0)} req/s, p99 ${p.p99} ms over ${CHUNKS} chunks${p.exhausted ? ' (codes ran out)' : ''}`);
      return merged;
    };
    const warmUps = new Map<AppSession, PhaseResult>();
    for (const s of sessions) warmUps.set(s, await s.phase('send', WARMUP));
    log(`send: ${CHUNKS} chunks of ${chunkSeconds} s per app`);
    const sends = await loaded('send');
    for (const s of sessions) {
      await s.collectCodes();
      const warm = await s.phase('verify', WARMUP);
      await s.topUpCodes(codesWanted(Math.max(warm.rps, sends.get(s)?.rps ?? 0, warmUps.get(s)?.rps ?? 0), DURATION));
    }
    log(`verify: ${CHUNKS} chunks of ${chunkSeconds} s per app`);
    const verifies = await loaded('verify');
    const results = new Map<AppName, AppResult>();
    for (const s of sessions) {
      const statements = await s.sequentialStatements();
      const send = sends.get(s) as PhaseResult;
      const verify = verifies.get(s) as PhaseResult;
      results.set(s.spec.app, { app: s.spec.app, send, verify, readyRssKb: s.readyRssKb, peakRssKb: await s.close(), statements, windows: { send: [0, 0], verify: [0, 0] } });
    }
    return results;
  } catch (error) {
    await Promise.allSettled(sessions.map((s) => s.close()));
    throw error;
  }
}

/** A shorter profiled kit run (`--cpu-prof`), summarised over the load window only. */
async function profileKit(firstIndex: number): Promise<ProfileSummary | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'otp-bench-prof-'));
  try {
    const seconds = Math.min(DURATION, 5);
    // BENCH_PROFILE_APP=floor profiles the floor instead, to compare the two.
    const app = env.BENCH_PROFILE_APP === 'floor' || env.BENCH_PROFILE_APP === 'peer' ? env.BENCH_PROFILE_APP : 'kit';
    const result = await benchApp(APPS[app], firstIndex, ['--cpu-prof', '--cpu-prof-dir', dir], { warmup: Math.min(WARMUP, 2), phase: seconds });
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
    sessionSettings = { url, secret: SECRET, dbPid, connections: CONNECTIONS, probe, log };
    const rounds: BenchRound[] = [];
    for (let r = 0; r < ROUNDS; r += 1) {
      // The round's first app swaps every round, besides the mirrored chunks within it.
      const order: AppName[] = PEER ? ['floor', 'kit', 'peer'] : ['floor', 'kit'];
      const apps = r % 2 === 0 ? order : order.reverse();
      log(`round ${r + 1} of ${ROUNDS}: ${apps.join(', ')}`);
      const results = await benchRound(apps.map((app) => APPS[app]), r * ROUND_SPAN);
      const peer = results.get('peer');
      rounds.push({ floor: results.get('floor') as AppResult, kit: results.get('kit') as AppResult, ...(peer === undefined ? {} : { peer }) });
    }
    const { kit } = rounds[0] as BenchRound;
    const profile = env.BENCH_PROFILE === '0' ? undefined : await profileKit(PROFILE_FIRST_INDEX);

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
      settings: { duration: DURATION, chunks: CHUNKS, warmup: WARMUP, connections: CONNECTIONS, kitLimits: JSON.stringify(benchLimits()), ...(PEER ? { peer: `better-auth ${peerVersion()}` } : {}) },
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
