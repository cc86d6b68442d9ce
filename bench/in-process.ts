/**
 * `tsx bench/in-process.ts`: the kit's CPU per send and per verify without HTTP, for A/B checks of
 * small changes (the HTTP benchmark's ratios move more with the machine than such changes do).
 * Drives `otp.sendSms` and `otp.verify` 50 at a time against MariaDB with the bench's limits and an
 * in-process provider, and prints user and system CPU per call from `process.cpuUsage()`, and the
 * local mysqld's CPU per call (`mysqldUs`; other work on the database counts there too), and
 * MariaDB's own count of its work per call (`db`: redo bytes, row writes, buffer pool page
 * requests; bench/db-work.ts), which does not move with the machine's other load.
 *
 * Environment: BENCH_MYSQL_URL (mysql://root@127.0.0.1:3306), BENCH_CALLS (20000).
 */
import { cpuSecondsOf, findDatabasePid, ipFor, phoneFor, runPool } from './common.js';
import { dbWorkProbe, workPer } from './db-work.js';
import { withKit } from './in-process-kit.js';

const calls = Number(process.env.BENCH_CALLS ?? 20_000);
const CONCURRENCY = 50;
const WARM_UP = 3_000;

const perCall = (usage: NodeJS.CpuUsage, count: number) => ({ userUs: Math.round(usage.user / count), systemUs: Math.round(usage.system / count) });

const probe = dbWorkProbe();
await withKit('otp_inproc', async ({ otp, codes }) => {
  const send = (i: number): Promise<void> => otp.sendSms(phoneFor(i), { ip: ipFor(i) }).then(() => undefined);
  await runPool(0, WARM_UP, CONCURRENCY, send);
  codes.clear();

  const dbPid = findDatabasePid();
  const dbCpu = (): number => (dbPid === undefined ? 0 : cpuSecondsOf(dbPid));
  let work = await probe.read();
  let db = dbCpu();
  let cpu = process.cpuUsage();
  let started = performance.now();
  const sent = await runPool(WARM_UP, calls, CONCURRENCY, send);
  const sendCpu = process.cpuUsage(cpu);
  const sendSeconds = (performance.now() - started) / 1000;
  const sendDb = dbCpu() - db;
  const sendWork = workPer(work, await probe.read(), calls);

  const live = [...codes];
  work = await probe.read();
  db = dbCpu();
  cpu = process.cpuUsage();
  started = performance.now();
  const verified = await runPool(0, live.length, CONCURRENCY, async (i) => {
    const [phone, code] = live[i] as [string, string];
    const result = await otp.verify(phone, code, { ip: ipFor(70_000 + i) });
    if (!result.codeValid) throw new Error(`verify refused: ${result.reason ?? 'unknown'}`);
  });
  const verifyCpu = process.cpuUsage(cpu);
  const verifySeconds = (performance.now() - started) / 1000;
  const verifyDb = dbCpu() - db;
  const verifyWork = workPer(work, await probe.read(), live.length);

  console.log(
    JSON.stringify({
      send: { calls, failed: sent.failed, perSecond: Math.round(calls / sendSeconds), ...perCall(sendCpu, calls), mysqldUs: Math.round((sendDb * 1e6) / calls), db: sendWork },
      verify: { calls: live.length, failed: verified.failed, perSecond: Math.round(live.length / verifySeconds), ...perCall(verifyCpu, live.length), mysqldUs: Math.round((verifyDb * 1e6) / Math.max(1, live.length)), db: verifyWork },
    }),
  );
});
await probe.close();
