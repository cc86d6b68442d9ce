/**
 * `tsx bench/in-process.ts`: the kit's CPU per send and per verify without HTTP, for A/B checks of
 * small changes (the HTTP benchmark's ratios move more with the machine than such changes do).
 * Drives `otp.sendSms` and `otp.verify` 50 at a time (BENCH_CONCURRENCY) against MariaDB with the bench's limits and an
 * in-process provider, and prints user and system CPU per call from `process.cpuUsage()`, and the
 * local mysqld's CPU per call (`mysqldUs`; other work on the database counts there too), and
 * MariaDB's own count of its work per call (`db`: redo bytes, row writes, buffer pool page
 * requests; bench/db-work.ts), which does not move with the machine's other load.
 *
 * Then the floor's send (bench/floor-app.ts: one INSERT, pool of 10) the same way, in a database of
 * its own, and the kit/floor ratio of each database figure per send.
 *
 * Environment: BENCH_MYSQL_URL (mysql://root@127.0.0.1:3306), BENCH_CALLS (20000), BENCH_CONCURRENCY
 * (50 calls at a time; 12 gives the batch sizes the HTTP bench's 50 connections give).
 */
import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import mysql from 'mysql2/promise';
import { cpuSecondsOf, findDatabasePid, ipFor, phoneFor, runPool } from './common.js';
import { dbWorkProbe, workPer, type DbWork } from './db-work.js';
import { createFloor, migrateFloor } from './floor-app.js';
import { withKit } from './in-process-kit.js';

const calls = Number(process.env.BENCH_CALLS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const WARM_UP = 3_000;

const perCall = (usage: NodeJS.CpuUsage, count: number) => ({ userUs: Math.round(usage.user / count), systemUs: Math.round(usage.system / count) });

const probe = dbWorkProbe();
const server = (process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306').replace(/\/+$/, '');
const dbPid = findDatabasePid();
const dbCpu = (): number => (dbPid === undefined ? 0 : cpuSecondsOf(dbPid));
let kitSend: (DbWork & { mysqldUs: number }) | undefined;
await withKit('otp_inproc', async ({ otp, codes }) => {
  const send = (i: number): Promise<void> => otp.sendSms(phoneFor(i), { ip: ipFor(i) }).then(() => undefined);
  await runPool(0, WARM_UP, CONCURRENCY, send);
  codes.clear();

  let work = await probe.read();
  let db = dbCpu();
  let cpu = process.cpuUsage();
  let started = performance.now();
  const sent = await runPool(WARM_UP, calls, CONCURRENCY, send);
  const sendCpu = process.cpuUsage(cpu);
  const sendSeconds = (performance.now() - started) / 1000;
  const sendDb = dbCpu() - db;
  const sendWork = workPer(work, await probe.read(), calls);
  kitSend = { ...sendWork, mysqldUs: Math.round((sendDb * 1e6) / calls) };

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

/** The floor's send, measured the same way. */
async function floorSend(): Promise<DbWork & { mysqldUs: number }> {
  const name = `otp_inproc_floor_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({ client: 'mysql2', connection: server, pool: { min: 0, max: 1 } });
  await admin.raw(`CREATE DATABASE ${name}`);
  const pool = mysql.createPool({ uri: `${server}/${name}`, connectionLimit: 10 });
  const knex = knexFactory({ client: 'mysql2', connection: `${server}/${name}`, pool: { min: 0, max: 1 } });
  try {
    await migrateFloor(knex);
    const floor = createFloor(pool, randomBytes(24).toString('base64'), () => undefined);
    await runPool(0, WARM_UP, CONCURRENCY, (i) => floor.send(phoneFor(i)));
    const [work, db] = [await probe.read(), dbCpu()];
    await runPool(WARM_UP, calls, CONCURRENCY, (i) => floor.send(phoneFor(i)));
    const [used, after] = [dbCpu() - db, await probe.read()];
    return { ...workPer(work, after, calls), mysqldUs: Math.round((used * 1e6) / calls) };
  } finally {
    await knex.destroy();
    await pool.end();
    await admin.raw(`DROP DATABASE IF EXISTS ${name}`);
    await admin.destroy();
  }
}

const floor = await floorSend();
const ratio = (k: keyof typeof floor): number => Math.round(((kitSend?.[k] ?? 0) / Math.max(1e-9, floor[k])) * 100) / 100;
console.log(JSON.stringify({ floorSend: floor, kitOverFloor: { mysqldUs: ratio('mysqldUs'), redoBytes: ratio('redoBytes'), rowWrites: ratio('rowWrites'), pageReads: ratio('pageReads'), pageWrites: ratio('pageWrites') } }));
await probe.close();
