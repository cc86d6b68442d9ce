/**
 * `tsx bench/end-sweep.ts`: what the retry poller's end sweep costs per ended request (issue 24),
 * beside what the conversation it ends cost. Sends BENCH_CALLS codes (20000) and verifies them all
 * against MariaDB with the bench's limits and an in-process provider, then runs one end sweep over
 * the verified requests. For each phase it prints, per request: Node CPU (`process.cpuUsage()`),
 * the local mysqld's CPU, and MariaDB's own count of its work (bench/db-work.ts: redo bytes, row
 * writes, buffer pool page requests, which do not move with the machine's other load); then the
 * sweep's share of send + verify + sweep for each. A fresh database each run, dropped at the end.
 *
 * Environment: BENCH_MYSQL_URL (mysql://root@127.0.0.1:3306), BENCH_CALLS (20000).
 */
import { internalsOf } from '../lib/service/internals.js';
import { sweepEnds } from '../lib/service/request-ends.js';
import { cpuSecondsOf, findDatabasePid, ipFor, phoneFor, runPool } from './common.js';
import { dbWorkProbe, workPer, type DbWork } from './db-work.js';
import { withKit } from './in-process-kit.js';

const calls = Number(process.env.BENCH_CALLS ?? 20_000);
const CONCURRENCY = 50;

interface PhaseCost extends DbWork {
  readonly nodeUs: number;
  readonly mysqldUs: number | null;
}

const probe = dbWorkProbe();
const dbPid = findDatabasePid();
const dbCpu = (): number => (dbPid === undefined ? 0 : cpuSecondsOf(dbPid));
const round1 = (x: number): number => Math.round(x * 10) / 10;

/** Runs `work` and answers its cost per request (`count` is read after the work: it may be its answer). */
async function measure(work: () => Promise<number>): Promise<PhaseCost & { count: number }> {
  const [work0, db0, cpu0] = [await probe.read(), dbCpu(), process.cpuUsage()];
  const count = await work();
  const used = process.cpuUsage(cpu0);
  const [db1, work1] = [dbCpu(), await probe.read()];
  return {
    count,
    nodeUs: round1((used.user + used.system) / Math.max(1, count)),
    mysqldUs: dbPid === undefined ? null : round1(((db1 - db0) * 1e6) / Math.max(1, count)),
    ...workPer(work0, work1, count),
  };
}

try {
  await withKit('otp_endsweep', async ({ otp, codes }) => {
    const send = await measure(async () => calls - (await runPool(0, calls, CONCURRENCY, (i) => otp.sendSms(phoneFor(i), { ip: ipFor(i) }).then(() => undefined))).failed);
    const live = [...codes];
    const verify = await measure(async () => {
      const { failed } = await runPool(0, live.length, CONCURRENCY, async (i) => {
        const [phone, code] = live[i] as [string, string];
        const result = await otp.verify(phone, code, { ip: ipFor(70_000 + i) });
        if (!result.codeValid) throw new Error(`verify refused: ${result.reason ?? 'unknown'}`);
      });
      return live.length - failed;
    });
    const started = performance.now();
    const sweep = await measure(() => sweepEnds(internalsOf(otp)));
    const ms = performance.now() - started;
    const keys = ['nodeUs', 'mysqldUs', 'redoBytes', 'rowWrites', 'pageReads', 'pageWrites'] as const;
    // Each verified request had one send and one verify: the sweep's part of all three.
    const share = Object.fromEntries(
      keys.map((k) => {
        const [s, v, e] = [send[k], verify[k], sweep[k]];
        return [k, s === null || v === null || e === null ? null : `${round1((e / (s + v + e)) * 100)} %`];
      }),
    );
    console.log(JSON.stringify({ verified: verify.count, ended: sweep.count, sweepMs: Math.round(ms), perRequest: { send, verify, sweep }, sweepShare: share }, null, 1));
  });
} finally {
  await probe.close();
}
