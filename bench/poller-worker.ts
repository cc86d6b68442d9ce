/**
 * One retry-poller process for bench/poller-bench.ts: the kit with an in-process provider under
 * the name the seeded rows are routed to, and the bundled poller, started and stopped over IPC.
 * It reports what its provider delivered (the seeded numbers are distinct, so a number seen twice
 * is a double delivery, also across processes) and the statements it ran.
 */
import { createOtp, knexFromUrl, silentLogger, type RetryPoller, type RetryPollerOptions } from '../lib/index.js';
import { createStatementCounter, isMain, serveChild } from './common.js';
import { inProcessProvider } from './kit-app.js';
import { RETRY_PROVIDER } from './seed.js';

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  const secret = process.env.BENCH_SECRET;
  if (url === undefined || secret === undefined) throw new Error('poller-worker: DATABASE_URL and BENCH_SECRET are required');
  const options = JSON.parse(process.env.BENCH_POLLER_OPTIONS ?? '{}') as RetryPollerOptions;
  const counter = createStatementCounter({ keepShapes: true });
  const knex = knexFromUrl(url);
  counter.watch(knex);
  const delivered: string[] = [];
  const otp = createOtp({
    db: knex,
    secret,
    customProviders: [inProcessProvider(RETRY_PROVIDER, (phone) => delivered.push(phone))],
    providers: [RETRY_PROVIDER],
    sms: { retry: true, maxRetries: 5 },
    ttlSeconds: 600,
    logger: silentLogger,
  });
  await otp.ready();
  let poller: RetryPoller | undefined;
  await serveChild(
    undefined,
    {
      start: () => {
        counter.reset(false);
        poller = otp.startRetryPoller(options);
      },
      stop: async () => {
        await poller?.stop();
        poller = undefined;
        return { delivered, statements: counter.snapshot(), shapes: counter.shapes() };
      },
    },
    async () => {
      await poller?.stop();
      await otp.close();
      await knex.destroy();
    },
  );
}

if (isMain(import.meta.url)) await main();
