/**
 * The capacity plan's measurements (issue 28), `npm run bench:capacity`: 1, 2 and 3 kit processes
 * (bench/kit-app.ts, every default on, the retry poller with its end sweep in each) against one
 * MariaDB database, each driven by its own autocannon share of BENCH_CONNECTIONS. Per run: sends
 * and verifies per second in all, the CPU each side used (app processes summed, mysqld, the load
 * generator), and from those the CPU per request, so sends per second per app core and per
 * database core can be read off and a fleet sized by dividing (docs/benchmarks.md, "Capacity plan").
 *
 * On this machine every process shares the same cores, so the totals show where the box saturates,
 * not where a dedicated database server would; the per-request CPU figures are what carries over.
 * Environment: BENCH_DURATION (10), BENCH_WARMUP (3), BENCH_CONNECTIONS (50), BENCH_MYSQL_URL,
 * BENCH_CAPACITY_PROCESSES (1,2,3), BENCH_KIT_POLLER (1 here: as a deployment runs it).
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import knexFactory from 'knex';
import { migrateOtpTables } from '../lib/index.js';
import { findDatabasePid, ipFor, phoneFor, sleep, startChild, type ChildHandle } from './common.js';
import { runPhase, type NextRequest, type PhaseResult } from './load.js';

const env = process.env;
const num = (name: string, fallback: number): number => (env[name] === undefined || env[name] === '' ? fallback : Number(env[name]));
const DURATION = num('BENCH_DURATION', 10);
const WARMUP = Math.min(num('BENCH_WARMUP', 3), DURATION);
const CONNECTIONS = num('BENCH_CONNECTIONS', 50);
const PROCESSES = (env.BENCH_CAPACITY_PROCESSES ?? '1,2,3').split(',').map(Number).filter((n) => n >= 1 && n <= 8);
const MYSQL_SERVER = (env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306').replace(/\/+$/, '');
const SECRET = randomBytes(24).toString('base64');
const log = (line: string): void => console.error(`[capacity] ${line}`);
const here = (p: string): string => new URL(p, import.meta.url).pathname;

export interface CapacityRun {
  readonly processes: number;
  readonly send: { readonly rps: number; readonly p99: number; readonly appCores: number; readonly dbCores: number; readonly loadgenCores: number };
  readonly verify: { readonly rps: number; readonly p99: number; readonly appCores: number; readonly dbCores: number; readonly loadgenCores: number };
}

/** One phase on every process at once; CPU of the app processes summed, mysqld and load generator once. */
async function phaseOnAll(children: readonly ChildHandle[], dbPid: number | undefined, kind: 'send' | 'verify', duration: number, next: (i: number) => () => NextRequest | undefined): Promise<CapacityRun['send']> {
  const results: PhaseResult[] = await Promise.all(
    children.map((child, i) =>
      runPhase({ app: 'kit', kind, child, dbPid: i === 0 ? dbPid : undefined, path: kind === 'send' ? '/otp/sms' : '/otp/verify', duration, connections: Math.max(1, Math.round(CONNECTIONS / children.length)), next: next(i), successStatus: kind === 'send' ? 202 : 200 }),
    ),
  );
  const first = results[0] as PhaseResult;
  return {
    rps: results.reduce((s, r) => s + r.rps, 0),
    p99: Math.max(...results.map((r) => r.p99)),
    appCores: results.reduce((s, r) => s + r.cpu.server, 0),
    dbCores: first.cpu.db,
    loadgenCores: first.cpu.loadgen,
  };
}

async function runWith(processes: number, url: string, dbPid: number | undefined, firstIndex: number): Promise<CapacityRun> {
  const children = await Promise.all(Array.from({ length: processes }, () => startChild(here('./kit-app.ts'), { DATABASE_URL: url, BENCH_SECRET: SECRET, NODE_ENV: 'production', BENCH_KIT_POLLER: env.BENCH_KIT_POLLER ?? '1' })));
  try {
    // Each process sends to numbers of its own: index i, i + n, i + 2n, ...
    const cursors = children.map((_c, i) => firstIndex + i);
    const sendNext = (i: number) => (): NextRequest => {
      const k = cursors[i] ?? 0;
      cursors[i] = k + processes;
      return { body: JSON.stringify({ phone: phoneFor(k) }), ip: ipFor(k) };
    };
    log(`${processes} process(es): warm-up ${WARMUP} s`);
    await phaseOnAll(children, dbPid, 'send', WARMUP, sendNext);
    const send = await phaseOnAll(children, dbPid, 'send', DURATION, sendNext);
    log(`${processes} process(es): send ${send.rps.toFixed(0)} req/s, app ${send.appCores.toFixed(2)} cores, mysqld ${send.dbCores.toFixed(2)} cores`);
    const codes = await Promise.all(children.map((c) => c.call<[string, string][]>('take-codes')));
    const at = children.map(() => 0);
    let ip = 0;
    const verifyNext = (i: number) => (): NextRequest | undefined => {
      const list = codes[i] ?? [];
      const entry = list[at[i] ?? 0];
      if (entry === undefined) return undefined;
      at[i] = (at[i] ?? 0) + 1;
      ip += 1;
      return { body: JSON.stringify({ phone: entry[0], code: entry[1] }), ip: ipFor(65_536 + ip) };
    };
    const verify = await phaseOnAll(children, dbPid, 'verify', DURATION, verifyNext);
    log(`${processes} process(es): verify ${verify.rps.toFixed(0)} req/s, app ${verify.appCores.toFixed(2)} cores, mysqld ${verify.dbCores.toFixed(2)} cores`);
    return { processes, send, verify };
  } finally {
    await Promise.all(children.map((c) => c.exit()));
  }
}

const us = (cores: number, rps: number): string => (rps > 0 ? ((cores * 1e6) / rps).toFixed(0) : 'n/a');

export function renderCapacity(runs: readonly CapacityRun[], when: string): string {
  const rows = runs.flatMap((r) =>
    (['send', 'verify'] as const).map((kind) => {
      const p = r[kind];
      return `| ${r.processes} | ${kind} | ${p.rps.toFixed(0)} | ${p.p99} ms | ${p.appCores.toFixed(2)} | ${p.dbCores.toFixed(2)} | ${p.loadgenCores.toFixed(2)} | ${us(p.appCores, p.rps)} µs | ${us(p.dbCores, p.rps)} µs |`;
    }),
  );
  return [
    `\`npm run bench:capacity\`, ${when}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' / ')};`,
    `${DURATION} s per phase, ${CONNECTIONS} connections shared by the processes, the retry poller (with its end sweep) in every process.`,
    '',
    '| app processes | phase | req/s (all) | p99 | app CPU (cores) | mysqld CPU (cores) | load generator (cores) | app CPU per request | mysqld CPU per request |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  const name = `otp_bench_cap_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({ client: 'mysql2', connection: MYSQL_SERVER, pool: { min: 0, max: 1 } });
  await admin.raw(`CREATE DATABASE ${name}`);
  const url = `${MYSQL_SERVER}/${name}`;
  const knex = knexFactory({ client: 'mysql2', connection: url, pool: { min: 0, max: 2 } });
  try {
    await migrateOtpTables(knex);
    const dbPid = findDatabasePid();
    const runs: CapacityRun[] = [];
    for (const [i, n] of PROCESSES.entries()) {
      runs.push(await runWith(n, url, dbPid, 8_000_000 + i * 2_000_000));
      await sleep(2_000);
    }
    console.log(renderCapacity(runs, new Date().toISOString()));
  } finally {
    await knex.destroy();
    await admin.raw(`DROP DATABASE IF EXISTS ${name}`);
    await admin.destroy();
  }
}

await main();
