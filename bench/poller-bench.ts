/**
 * Retry-poller benchmark: 10,000 due rows in the retry table, an in-process provider, one and then
 * two poller processes; rows per second from the start of the pollers until no seeded row is
 * queued or sending. Each run also checks that every row was delivered exactly once.
 *
 * Used by bench/run.ts; `tsx bench/poller-bench.ts` runs it alone on a fresh MariaDB database.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import { migrateOtpTables } from '../lib/index.js';
import { cpuSecondsOf, findDatabasePid, isMain, sleep, startChild, type ChildHandle, type ShapeCount, type StatementSnapshot } from './common.js';
import { createSeeder } from './seed.js';

const WORKER = fileURLToPath(new URL('./poller-worker.ts', import.meta.url));

export interface PollerRun {
  readonly processes: number;
  readonly rows: number;
  /** Seconds from start until drained (or until the time limit). */
  readonly seconds: number;
  readonly drained: boolean;
  readonly rowsPerSecond: number;
  /** Outcome of the seeded rows by delivery status. */
  readonly statuses: Readonly<Record<string, number>>;
  readonly deliveries: number;
  readonly doubleDeliveries: number;
  /** Knex statements per row, all poller processes together. */
  readonly statementsPerRow: number;
  readonly driverStatementsPerRow: number;
  /** CPU used during the run, in cores (1.0 = one core busy). */
  readonly cpu: { readonly pollers: number; readonly db: number };
  /** The statements the pollers ran, by SQL, with counts (first process). */
  readonly shapes: readonly ShapeCount[];
}

export interface PollerBenchResult {
  readonly implemented: boolean;
  readonly error?: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly runs: readonly PollerRun[];
}

export interface PollerBenchOptions {
  /** DATABASE_URL of a migrated database (the kit's tables). */
  readonly url: string;
  readonly knex: Knex;
  readonly secret: string;
  readonly rows: number;
  readonly processes: readonly number[];
  readonly maxSeconds: number;
  /** Options passed to otp.startRetryPoller() in every process. */
  readonly pollerOptions: Readonly<Record<string, unknown>>;
  readonly log: (line: string) => void;
}

interface StopReport {
  readonly delivered: readonly string[];
  readonly statements: StatementSnapshot;
  readonly shapes: readonly ShapeCount[];
}

const ACTIVE = ['queued', 'sending'];

export async function runPollerBench(o: PollerBenchOptions): Promise<PollerBenchResult> {
  const table = 'otp_requests';
  const seeder = createSeeder(o.knex, o.secret);
  const dbPid = findDatabasePid();
  const runs: PollerRun[] = [];
  try {
    for (const [n, processes] of o.processes.entries()) {
      const purpose = `bench-poller-${n + 1}`;
      o.log(`poller: seeding ${o.rows} due rows`);
      await seeder.seed({ count: o.rows, from: 5_000_000 + n * o.rows, due: true, purpose });
      const children: ChildHandle[] = [];
      try {
        for (let k = 0; k < processes; k += 1) {
          children.push(await startChild(WORKER, { DATABASE_URL: o.url, BENCH_SECRET: o.secret, BENCH_POLLER_OPTIONS: JSON.stringify(o.pollerOptions), NODE_ENV: 'production' }));
        }
        o.log(`poller: ${processes} process(es) draining`);
        const cpuBefore = children.reduce((sum, c) => sum + cpuSecondsOf(c.pid), 0);
        const dbBefore = dbPid === undefined ? 0 : cpuSecondsOf(dbPid);
        const started = performance.now();
        try {
          await Promise.all(children.map((c) => c.call('start')));
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          if (/not implemented/i.test(message)) return { implemented: false, error: message.split('\n')[0] ?? message, options: o.pollerOptions, runs };
          throw error;
        }
        let remaining = o.rows;
        let seconds = 0;
        while (seconds < o.maxSeconds) {
          await sleep(100);
          const row = (await o.knex(table).where({ purpose }).whereNotNull('next_attempt_at').whereIn('status', ACTIVE).count({ n: '*' }).first()) as { n: number | string } | undefined;
          remaining = Number(row?.n ?? 0);
          seconds = (performance.now() - started) / 1000;
          if (remaining === 0) break;
        }
        const cpuPollers = children.reduce((sum, c) => sum + cpuSecondsOf(c.pid), 0) - cpuBefore;
        const cpuDb = dbPid === undefined ? 0 : cpuSecondsOf(dbPid) - dbBefore;
        const reports = await Promise.all(children.map((c) => c.call<StopReport>('stop')));
        const grouped: { status: string; n: number | string }[] = await o.knex(table).where({ purpose }).select('status').count({ n: '*' }).groupBy('status');
        const statuses = Object.fromEntries(grouped.map((r) => [r.status, Number(r.n)]));
        const all = reports.flatMap((r) => r.delivered);
        const distinct = new Set(all).size;
        const done = o.rows - remaining;
        runs.push({
          processes,
          rows: o.rows,
          seconds,
          drained: remaining === 0,
          rowsPerSecond: done / seconds,
          statuses,
          deliveries: all.length,
          doubleDeliveries: all.length - distinct,
          statementsPerRow: reports.reduce((sum, r) => sum + r.statements.knex, 0) / Math.max(1, done),
          driverStatementsPerRow: reports.reduce((sum, r) => sum + r.statements.driver, 0) / Math.max(1, done),
          cpu: { pollers: cpuPollers / seconds, db: cpuDb / seconds },
          shapes: reports[0]?.shapes ?? [],
        });
        o.log(`poller: ${processes} process(es): ${done} rows in ${seconds.toFixed(2)} s = ${(done / seconds).toFixed(0)} rows/s${remaining === 0 ? '' : ` (NOT drained: ${remaining} left)`}`);
      } finally {
        await Promise.all(children.map((c) => c.exit()));
      }
    }
  } finally {
    await seeder.close();
  }
  return { implemented: true, options: o.pollerOptions, runs };
}

/** `tsx bench/poller-bench.ts`: the poller benchmark alone, on a fresh MariaDB database. */
async function standalone(): Promise<void> {
  const server = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
  const name = `otp_bench_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({ client: 'mysql2', connection: server, pool: { min: 0, max: 1 } });
  await admin.raw(`CREATE DATABASE ${name}`);
  const url = `${server.replace(/\/+$/, '')}/${name}`;
  const knex = knexFactory({ client: 'mysql2', connection: url, pool: { min: 0, max: 4 } });
  try {
    await migrateOtpTables(knex);
    const result = await runPollerBench({
      url,
      knex,
      secret: randomBytes(24).toString('base64'),
      rows: Number(process.env.BENCH_POLLER_ROWS ?? 10_000),
      processes: [1, 2],
      maxSeconds: Number(process.env.BENCH_POLLER_MAX_SECONDS ?? 60),
      pollerOptions: JSON.parse(process.env.BENCH_POLLER_OPTIONS ?? '{}') as Record<string, unknown>,
      log: (line) => console.log(line),
    });
    console.log(JSON.stringify({ ...result, runs: result.runs.map(({ shapes: _shapes, ...run }) => run) }, null, 2));
  } finally {
    await knex.destroy();
    await admin.raw(`DROP DATABASE IF EXISTS ${name}`);
    await admin.destroy();
  }
}

if (isMain(import.meta.url)) await standalone();
