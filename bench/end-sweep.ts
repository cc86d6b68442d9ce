/**
 * `tsx bench/end-sweep.ts`: what the retry poller's end sweep costs per ended request (issue 24).
 * Sends BENCH_CALLS codes (20000) and verifies them all against MariaDB with the bench's limits and
 * an in-process provider, then runs one end sweep over the verified requests and prints the Node CPU
 * (`process.cpuUsage()`) and the local mysqld's CPU per request it ended (other work on the
 * database counts there too). A fresh database each run, dropped at the end.
 *
 * Environment: BENCH_MYSQL_URL (mysql://root@127.0.0.1:3306), BENCH_CALLS (20000).
 */
import { internalsOf } from '../lib/service/internals.js';
import { sweepEnds } from '../lib/service/request-ends.js';
import { cpuSecondsOf, findDatabasePid, ipFor, phoneFor, runPool } from './common.js';
import { withKit } from './in-process-kit.js';

const calls = Number(process.env.BENCH_CALLS ?? 20_000);
const CONCURRENCY = 50;

await withKit('otp_endsweep', async ({ otp, codes }) => {
  await runPool(0, calls, CONCURRENCY, (i) => otp.sendSms(phoneFor(i), { ip: ipFor(i) }).then(() => undefined));
  const live = [...codes];
  const verified = await runPool(0, live.length, CONCURRENCY, async (i) => {
    const [phone, code] = live[i] as [string, string];
    const result = await otp.verify(phone, code, { ip: ipFor(70_000 + i) });
    if (!result.codeValid) throw new Error(`verify refused: ${result.reason ?? 'unknown'}`);
  });

  const dbPid = findDatabasePid();
  const dbCpu = (): number => (dbPid === undefined ? 0 : cpuSecondsOf(dbPid));
  const db = dbCpu();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const ended = await sweepEnds(internalsOf(otp));
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const dbSeconds = dbCpu() - db;
  console.log(
    JSON.stringify({
      verified: live.length - verified.failed,
      ended,
      ms: Math.round(ms),
      nodeUsPerEnd: Math.round(((used.user + used.system) / Math.max(1, ended)) * 10) / 10,
      mysqldUsPerEnd: dbPid === undefined ? null : Math.round(((dbSeconds * 1e6) / Math.max(1, ended)) * 10) / 10,
    }),
  );
});
