/**
 * The kit in the bench's own process, for the scripts that measure without HTTP
 * (bench/in-process.ts, bench/end-sweep.ts): a fresh MariaDB database, the kit's tables, the
 * bench's limits and an in-process provider that records each delivered code. `withKit(prefix, run)`
 * drops the database afterwards, whatever `run` did.
 */
import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import { createOtp, knexFromUrl, migrateOtpTables, silentLogger, type Otp } from '../lib/index.js';
import { benchLimits, inProcessProvider } from './kit-app.js';

export interface InProcessKit {
  readonly otp: Otp;
  /** phone → the last code delivered to it. */
  readonly codes: Map<string, string>;
}

export async function withKit(prefix: string, run: (kit: InProcessKit) => Promise<void>): Promise<void> {
  const server = (process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306').replace(/\/+$/, '');
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({ client: 'mysql2', connection: server, pool: { min: 0, max: 1 } });
  await admin.raw(`CREATE DATABASE ${name}`);
  const knex = knexFromUrl(`${server}/${name}`);
  try {
    await migrateOtpTables(knex);
    const codes = new Map<string, string>();
    const otp = createOtp({
      db: knex,
      secret: randomBytes(24).toString('base64'),
      customProviders: [inProcessProvider('Bench', (phone, code) => codes.set(phone, code))],
      providers: ['Bench'],
      limits: benchLimits(),
      logger: silentLogger,
    });
    await otp.ready();
    try {
      await run({ otp, codes });
    } finally {
      await otp.close();
    }
  } finally {
    await knex.destroy();
    await admin.raw(`DROP DATABASE IF EXISTS ${name}`);
    await admin.destroy();
  }
}
