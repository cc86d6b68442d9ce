/**
 * The kit under load: the example app (examples/app.ts) with an in-process provider, so the
 * benchmark measures the kit and not a network. The provider records each delivered code for the
 * orchestrator's verify phase. TRUST_PROXY is on, so every request's X-Forwarded-For is its client
 * IP and per-IP limits see many clients; all other settings are the kit's defaults, limits included
 * (see benchLimits below for the volume caps).
 *
 * Run as a child of bench/run.ts (DATABASE_URL, BENCH_SECRET); it answers the orchestrator's calls
 * over IPC (see bench/common.ts).
 */
import { createServer } from 'node:http';
import { createExampleApp } from '../examples/app.js';
import { createOtp, knexFromUrl, silentLogger, type OtpOptions, type OtpProvider } from '../lib/index.js';
import { appHandlers, createCodeBook, createStatementCounter, isMain, ipFor, phoneFor, serveChild } from './common.js';

/**
 * Every abuse limit stays on with its default, except the caps on total volume, which a benchmark
 * sending ~100,000 codes a minute to ~3,000 number ranges of one country exists to exceed: the
 * daily budget (default 5,000 a day), sends per number range (20 an hour), sends per country
 * (1,000 a day), and the conversion breaker's minimum sample (50 sends of a range before it
 * judges; the send phase verifies nothing, so it would hold every range). They are raised, not
 * switched off, so each send still pays for their counters. BENCH_KIT_LIMITS (JSON for the
 * `limits` option, or `false`) replaces this.
 */
export function benchLimits(env: Readonly<Record<string, string | undefined>> = process.env): OtpOptions['limits'] {
  if (env.BENCH_KIT_LIMITS !== undefined && env.BENCH_KIT_LIMITS !== '') return JSON.parse(env.BENCH_KIT_LIMITS) as OtpOptions['limits'];
  return { dailySendBudget: 100_000_000, sendsPerPrefix: { max: 1_000_000 }, sendsPerCountry: { max: 100_000_000 }, conversionBreaker: { minSends: 1_000_000 } };
}

/** A provider that accepts every delivery at once, in process, and hands the code to `sink`. */
export function inProcessProvider(name: string, sink: (phone: string, code: string) => void): OtpProvider {
  return {
    name,
    channels: ['sms', 'call'],
    ownsCode: false,
    send(input) {
      sink(input.phone, input.code);
      return Promise.resolve({ ref: `${name.toLowerCase()}-${input.requestId}` });
    },
  };
}

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  const secret = process.env.BENCH_SECRET;
  if (url === undefined || secret === undefined) throw new Error('kit-app: DATABASE_URL and BENCH_SECRET are required');
  const counter = createStatementCounter();
  const book = createCodeBook();
  // The kit's default pool (max 10) unless BENCH_POOL_MAX says otherwise.
  const knex = knexFromUrl(url, process.env.BENCH_POOL_MAX === undefined ? {} : { max: Number(process.env.BENCH_POOL_MAX) });
  counter.watch(knex);
  const otp = createOtp({
    db: knex,
    secret,
    customProviders: [inProcessProvider('Bench', (phone, code) => book.record(phone, code))],
    providers: ['Bench'],
    limits: benchLimits(),
    logger: silentLogger,
  });
  await otp.ready();
  // BENCH_KIT_POLLER=1: as the example app (examples/basic-app.ts) runs it, with the retry poller in
  // the same process, whose end sweep writes each request's end event and insight rollups (issue 24)
  // beside the load. Off by default: its background statements would be counted as the requests'.
  // BENCH_KIT_POLLER_OPTIONS (JSON for startRetryPoller), e.g. {"endSweepInterval":false} to measure without the end sweep.
  const pollerOptions = JSON.parse(process.env.BENCH_KIT_POLLER_OPTIONS ?? '{}') as Parameters<typeof otp.startRetryPoller>[0];
  const poller = process.env.BENCH_KIT_POLLER === '1' ? otp.startRetryPoller(pollerOptions) : undefined;
  const app = createExampleApp(otp, { ...process.env, TRUST_PROXY: process.env.TRUST_PROXY ?? 'loopback' });
  const server = createServer(app);
  await serveChild(
    server,
    appHandlers(book, counter, (i) => otp.sendSms(phoneFor(i), { ip: ipFor(i) })),
    async () => {
      await poller?.stop();
      await otp.close();
      await knex.destroy();
    },
  );
}

if (isMain(import.meta.url)) await main();
