/**
 * `tsx bench/poller-variants.ts`: A/B runs of the retry-poller benchmark (one process, 10,000 due
 * rows) for the tuning notes in docs/benchmarks.md: a fresh table against one that already holds
 * finished rows, with and without an index on `lease_token`, with the default and with larger
 * `batchSize`/`concurrency`. Each variant gets a fresh MariaDB database. Not part of `npm run bench`.
 *
 * BENCH_VARIANTS: JSON array of { name, filler, index, options } to run other variants.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import knexFactory from 'knex';
import { migrateOtpTables } from '../lib/index.js';
import { isMain } from './common.js';
import { runPollerBench } from './poller-bench.js';
import { createSeeder } from './seed.js';

interface Variant {
  readonly name: string;
  /** Finished rows (sent, nothing due) in the table before the due ones. */
  readonly filler: number;
  /** Add `CREATE INDEX … (lease_token)` before the run. */
  readonly index: boolean;
  readonly options: Readonly<Record<string, unknown>>;
}

const DEFAULT_VARIANTS: readonly Variant[] = [
  { name: 'fresh table, default options', filler: 0, index: false, options: {} },
  { name: '+50,000 finished rows, default options', filler: 50_000, index: false, options: {} },
  { name: '+50,000 finished rows, index on lease_token, default options', filler: 50_000, index: true, options: {} },
  { name: '+50,000 finished rows, batchSize 50, concurrency 50', filler: 50_000, index: false, options: { batchSize: 50, concurrency: 50 } },
  { name: '+50,000 finished rows, index on lease_token, batchSize 50, concurrency 50', filler: 50_000, index: true, options: { batchSize: 50, concurrency: 50 } },
];

async function main(): Promise<void> {
  const server = (process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306').replace(/\/+$/, '');
  const variants = process.env.BENCH_VARIANTS === undefined ? DEFAULT_VARIANTS : (JSON.parse(process.env.BENCH_VARIANTS) as Variant[]);
  const secret = randomBytes(24).toString('base64');
  console.log('| variant | rows/s | seconds | statements/row | poller CPU | mysqld CPU | load (1 min) |\n|---|---|---|---|---|---|---|');
  for (const v of variants) {
    const name = `otp_bench_${randomBytes(4).toString('hex')}`;
    const admin = knexFactory({ client: 'mysql2', connection: server, pool: { min: 0, max: 1 } });
    await admin.raw(`CREATE DATABASE ${name}`);
    const url = `${server}/${name}`;
    const knex = knexFactory({ client: 'mysql2', connection: url, pool: { min: 0, max: 4 } });
    try {
      await migrateOtpTables(knex);
      if (v.filler > 0) {
        const seeder = createSeeder(knex, secret);
        await seeder.seed({ count: v.filler, from: 8_000_000, due: false, purpose: 'bench-finished' });
        await seeder.close();
      }
      if (v.index) await knex.raw('CREATE INDEX otp_requests_lease_idx ON otp_requests (lease_token)');
      const result = await runPollerBench({ url, knex, secret, rows: 10_000, processes: [1], maxSeconds: 60, pollerOptions: v.options, log: () => undefined });
      const run = result.runs[0];
      if (run === undefined) throw new Error(result.error ?? 'no run');
      console.log(`| ${v.name} | ${run.rowsPerSecond.toFixed(0)}${run.drained ? '' : ' (not drained)'} | ${run.seconds.toFixed(2)} | ${run.statementsPerRow.toFixed(2)} | ${run.cpu.pollers.toFixed(2)} | ${run.cpu.db.toFixed(2)} | ${(loadavg()[0] ?? 0).toFixed(2)} |`);
    } finally {
      await knex.destroy();
      await admin.raw(`DROP DATABASE IF EXISTS ${name}`);
      await admin.destroy();
    }
  }
}

if (isMain(import.meta.url)) await main();
