/**
 * One purging instance for bench/lifecycle-bench.ts: the kit on the bench database, running
 * `otp.purge()` (the default retention: batches of 5,000 with a 10 ms pause) beside the load, as a
 * cron job or a second instance's poller would. Started and stopped over IPC.
 */
import { createOtp, knexFromUrl, silentLogger, type PurgeResult } from '../lib/index.js';
import { isMain, serveChild } from './common.js';

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  const secret = process.env.BENCH_SECRET;
  if (url === undefined || secret === undefined) throw new Error('purge-worker: DATABASE_URL and BENCH_SECRET are required');
  const knex = knexFromUrl(url, { max: 2 });
  const retention = JSON.parse(process.env.BENCH_RETENTION ?? '{}') as Record<string, unknown>;
  const otp = createOtp({ db: knex, secret, providers: ['Console'], console: { write: () => undefined }, logger: silentLogger, retention });
  let abort = new AbortController();
  let running: Promise<void> | undefined;
  let outcome: { result?: PurgeResult; error?: string; seconds?: number } = {};
  await serveChild(
    undefined,
    {
      start: () => {
        abort = new AbortController();
        outcome = {};
        const started = performance.now();
        running = otp.purge({ signal: abort.signal }).then(
          (result) => {
            outcome = { result, seconds: (performance.now() - started) / 1000 };
          },
          (error: unknown) => {
            outcome = { error: error instanceof Error ? error.message : String(error), seconds: (performance.now() - started) / 1000 };
          },
        );
      },
      status: () => outcome,
      stop: async () => {
        abort.abort();
        await running;
        return outcome;
      },
    },
    async () => {
      abort.abort();
      await running;
      await otp.close();
      await knex.destroy();
    },
  );
}

if (isMain(import.meta.url)) await main();
