/**
 * `tsx bench/http-cpu.ts`: server CPU per request over HTTP, for A/B checks on a busy machine.
 * Wall-clock req/s moves with whatever else the machine runs; CPU time per request moves much
 * less. Each variant (the kit of one checkout, or the floor) gets a fresh MariaDB database and a
 * fresh server process (bench/kit-app.ts or bench/floor-app.ts of that checkout); autocannon sends
 * a fixed number of requests (each its own number and client IP), and the server's and mysqld's CPU
 * over the measured requests is divided by their count. Rounds alternate the order of the variants.
 *
 * Environment: HTTP_CPU_VARIANTS (`name=path` pairs, comma-separated; a path is a checkout, e.g.
 * `before=/work/main,after=.`; `floor` alone adds this checkout's floor), HTTP_CPU_ROUNDS (3),
 * HTTP_CPU_SENDS (8000 measured sends), HTTP_CPU_WARMUP (2000), HTTP_CPU_CONNECTIONS (32),
 * BENCH_MYSQL_URL (mysql://root@127.0.0.1:3306), HTTP_CPU_PROF=<dir> to run the servers under
 * --cpu-prof (profiles land in <dir>).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import autocannon, { type AutocannonRequest } from 'autocannon';
import knexFactory from 'knex';
import { summariseProfile, type WindowSummary } from './profile.js';
import { cpuSecondsOf, findDatabasePid, ipFor, phoneFor, sleep, startChild, type ChildHandle } from './common.js';

const env = process.env;
const SERVER = (env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306').replace(/\/+$/, '');
const ROUNDS = Number(env.HTTP_CPU_ROUNDS ?? 3);
const SENDS = Number(env.HTTP_CPU_SENDS ?? 8000);
const WARMUP = Number(env.HTTP_CPU_WARMUP ?? 2000);
const CONNECTIONS = Number(env.HTTP_CPU_CONNECTIONS ?? 32);
const SECRET = randomBytes(24).toString('base64');

interface Variant {
  readonly name: string;
  readonly root: string;
  readonly app: 'kit' | 'floor';
}

function variants(): Variant[] {
  const spec = env.HTTP_CPU_VARIANTS ?? 'before=/work/main,after=.,floor';
  return spec.split(',').map((part) => {
    const [name, path] = part.split('=') as [string, string | undefined];
    if (name === 'floor') return { name, root: resolve(path ?? '.'), app: 'floor' };
    return { name, root: resolve(path ?? '.'), app: 'kit' };
  });
}

interface Measured {
  readonly serverUs: number;
  readonly dbUs: number;
  readonly ok: number;
  readonly other: string;
}

async function drive(port: number, path: string, count: number, next: (k: number) => { body: string; ip: string }, success: number): Promise<{ ok: number; other: string }> {
  let k = 0;
  const request: AutocannonRequest = {
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json' },
    setupRequest(req) {
      const item = next(k);
      k += 1;
      return { ...req, body: item.body, headers: { ...req.headers, 'x-forwarded-for': item.ip } };
    },
  };
  const result = await autocannon({ url: `http://127.0.0.1:${port}`, connections: CONNECTIONS, amount: count, timeout: 30, requests: [request] });
  const codes = Object.entries(result.statusCodeStats).map(([code, s]) => [code, Number(s.count)] as const);
  const ok = codes.find(([code]) => Number(code) === success)?.[1] ?? 0;
  const other = codes.filter(([code]) => Number(code) !== success).map(([code, n]) => `${n}×${code}`);
  if (result.errors > 0) other.push(`${result.errors} errors`);
  return { ok, other: other.join(' ') };
}

async function measure(child: ChildHandle, dbPid: number | undefined, run: () => Promise<{ ok: number; other: string }>): Promise<Measured> {
  await sleep(300);
  const s0 = cpuSecondsOf(child.pid);
  const d0 = dbPid === undefined ? 0 : cpuSecondsOf(dbPid);
  const { ok, other } = await run();
  await sleep(100); // work right after the answers (group commit's last batch)
  const s1 = cpuSecondsOf(child.pid);
  const d1 = dbPid === undefined ? 0 : cpuSecondsOf(dbPid);
  return { serverUs: ((s1 - s0) * 1e6) / Math.max(1, ok), dbUs: ((d1 - d0) * 1e6) / Math.max(1, ok), ok, other };
}

async function runVariant(v: Variant, dbPid: number | undefined, first: number): Promise<{ send: Measured; verify: Measured }> {
  const name = `otp_httpcpu_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({ client: 'mysql2', connection: SERVER, pool: { min: 0, max: 1 } });
  await admin.raw(`CREATE DATABASE ${name}`);
  const url = `${SERVER}/${name}`;
  const knex = knexFactory({ client: 'mysql2', connection: url, pool: { min: 0, max: 2 } });
  try {
    if (v.app === 'kit') {
      const lib = (await import(`${v.root}/lib/index.ts`)) as { migrateOtpTables: (k: typeof knex) => Promise<unknown> };
      await lib.migrateOtpTables(knex);
    } else {
      const floor = (await import(`${v.root}/bench/floor-app.ts`)) as { migrateFloor: (k: typeof knex) => Promise<void> };
      await floor.migrateFloor(knex);
    }
    const profDir = env.HTTP_CPU_PROF;
    const execArgv = profDir === undefined || profDir === '' ? [] : ['--cpu-prof', '--cpu-prof-dir', resolve(profDir), '--cpu-prof-name', `${v.name}-${first}.cpuprofile`];
    const child = await startChild(`${v.root}/bench/${v.app}-app.ts`, { DATABASE_URL: url, BENCH_SECRET: SECRET, NODE_ENV: 'production' }, execArgv);
    const windows: { send: [number, number]; verify: [number, number] } = { send: [0, 0], verify: [0, 0] };
    try {
      const sendBody = (k: number) => ({ body: JSON.stringify({ phone: phoneFor(first + k) }), ip: ipFor(k) });
      await drive(child.port, '/otp/sms', WARMUP, sendBody, 202);
      windows.send[0] = await child.call<number>('now');
      const send = await measure(child, dbPid, () => drive(child.port, '/otp/sms', SENDS, (k) => sendBody(WARMUP + k), 202));
      windows.send[1] = await child.call<number>('now');
      const codes = await child.call<[string, string][]>('take-codes');
      const verifyBody = (k: number) => {
        const [phone, code] = codes[k % codes.length] as [string, string];
        return { body: JSON.stringify({ phone, code }), ip: ipFor(65_536 + k) };
      };
      const warm = Math.min(WARMUP, Math.floor(codes.length / 5));
      await drive(child.port, '/otp/verify', warm, verifyBody, 200);
      windows.verify[0] = await child.call<number>('now');
      const verify = await measure(child, dbPid, () => drive(child.port, '/otp/verify', codes.length - warm, (k) => verifyBody(warm + k), 200));
      windows.verify[1] = await child.call<number>('now');
      return { send, verify };
    } finally {
      await child.exit();
      if (execArgv.length > 0) printProfile(join(resolve(profDir as string), `${v.name}-${first}.cpuprofile`), windows);
    }
  } finally {
    await knex.destroy();
    await admin.raw(`DROP DATABASE IF EXISTS ${name}`);
    await admin.destroy();
  }
}

function printProfile(file: string, windows: { send: [number, number]; verify: [number, number] }): void {
  const summary = summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as unknown, windows, 40);
  const show = (title: string, w: WindowSummary): void => {
    console.error(`[http-cpu] ${file} ${title}: busy ${w.busyPercent.toFixed(0)}% of ${w.seconds.toFixed(1)} s`);
    for (const s of w.topFunctions) console.error(`  ${s.percent.toFixed(1).padStart(5)}  ${s.name}`);
    console.error('  inclusive: ' + w.inclusiveByPackage.map((s) => `${s.name} ${s.percent.toFixed(1)}`).join(', '));
  };
  show('send', summary.send);
  show('verify', summary.verify);
}

const median = (values: readonly number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  const list = variants();
  const dbPid = findDatabasePid();
  const results = new Map<string, { send: Measured; verify: Measured }[]>();
  for (let r = 0; r < ROUNDS; r += 1) {
    const order = r % 2 === 0 ? list : [...list].reverse();
    for (const [i, v] of order.entries()) {
      const result = await runVariant(v, dbPid, (r * list.length + i) * 100_000);
      results.set(v.name, [...(results.get(v.name) ?? []), result]);
      const f = (m: Measured): string => `server ${m.serverUs.toFixed(0)} µs, mysqld ${m.dbUs.toFixed(0)} µs (${m.ok} ok${m.other === '' ? '' : `, ${m.other}`})`;
      console.error(`[http-cpu] round ${r + 1} ${v.name}: send ${f(result.send)}; verify ${f(result.verify)}`);
    }
  }
  console.log('| variant | send server µs | send mysqld µs | verify server µs | verify mysqld µs |');
  console.log('|---|---|---|---|---|');
  for (const v of list) {
    const runs = results.get(v.name) ?? [];
    const col = (pick: (x: { send: Measured; verify: Measured }) => number): string => `${median(runs.map(pick)).toFixed(0)} (${runs.map((x) => pick(x).toFixed(0)).join(', ')})`;
    console.log(`| ${v.name} | ${col((x) => x.send.serverUs)} | ${col((x) => x.send.dbUs)} | ${col((x) => x.verify.serverUs)} | ${col((x) => x.verify.dbUs)} |`);
  }
}

await main();
