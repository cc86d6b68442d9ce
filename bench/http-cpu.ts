/**
 * `tsx bench/http-cpu.ts`: server CPU per request over HTTP, for A/B checks on a busy machine.
 * Wall-clock req/s moves with whatever else the machine runs; CPU time per request moves much
 * less, and pairs measured side by side share the machine's mood. Every variant (the kit of one
 * checkout, or the floor) runs at once in its own server process (bench/kit-app.ts or
 * bench/floor-app.ts of that checkout) on its own fresh MariaDB database; after a warm-up, the load
 * goes to one variant at a time in chunks (a fixed number of sends, each its own number and
 * client IP, then verifies of the codes they delivered), the order alternating, and each chunk's
 * server and mysqld CPU is divided by its successful requests. Reported: the median per variant, and the median of the chunk-by-chunk ratios to the
 * first variant.
 *
 * Environment: HTTP_CPU_VARIANTS (`name=path` pairs, comma-separated; a path is a checkout, e.g.
 * `before=/work/main,after=.`; `floor` alone adds this checkout's floor), HTTP_CPU_CHUNKS (8),
 * HTTP_CPU_CHUNK (1500 sends a chunk), HTTP_CPU_WARMUP (3000), HTTP_CPU_CONNECTIONS (32),
 * BENCH_MYSQL_URL (mysql://root@127.0.0.1:3306), HTTP_CPU_PROF=<dir> to run the servers under
 * --cpu-prof (one directory per variant; the main thread's profile is summarised over the
 * chunks' span).
 *
 * What a request costs after its answer (issue 24's end sweep): HTTP_CPU_ENV_<name> is JSON of
 * extra environment for one variant's server (e.g. `{"BENCH_KIT_POLLER":"1"}` runs the retry poller
 * with its end sweep in it, bench/kit-app.ts), and HTTP_CPU_SETTLE_MS (0: off) measures each
 * variant's server and mysqld CPU for that long after each verify chunk, while it is otherwise idle,
 * per verified request ("after"), and adds it to the conversation's cost.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import autocannon, { type AutocannonRequest } from 'autocannon';
import knexFactory, { type Knex } from 'knex';
import { summariseProfile, type WindowSummary } from './profile.js';
import { cpuSecondsOf, findDatabasePid, ipFor, phoneFor, sleep, startChild, type ChildHandle } from './common.js';

const env = process.env;
const SERVER = (env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306').replace(/\/+$/, '');
const CHUNKS = Number(env.HTTP_CPU_CHUNKS ?? 8);
const CHUNK = Number(env.HTTP_CPU_CHUNK ?? 1500);
const WARMUP = Number(env.HTTP_CPU_WARMUP ?? 3000);
const CONNECTIONS = Number(env.HTTP_CPU_CONNECTIONS ?? 32);
const SECRET = randomBytes(24).toString('base64');
const SETTLE_MS = Number(env.HTTP_CPU_SETTLE_MS ?? 0);

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

type Next = (k: number) => { body: string; ip: string };

async function drive(port: number, path: string, count: number, next: Next, success: number): Promise<{ ok: number; other: string }> {
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
  await sleep(200);
  const s0 = cpuSecondsOf(child.pid);
  const d0 = dbPid === undefined ? 0 : cpuSecondsOf(dbPid);
  const { ok, other } = await run();
  await sleep(100); // work right after the answers (group commit's last batch)
  const s1 = cpuSecondsOf(child.pid);
  const d1 = dbPid === undefined ? 0 : cpuSecondsOf(dbPid);
  return { serverUs: ((s1 - s0) * 1e6) / Math.max(1, ok), dbUs: ((d1 - d0) * 1e6) / Math.max(1, ok), ok, other };
}

/**
 * The server's and mysqld's CPU in the SETTLE_MS right after a verify chunk's window (which ends
 * 100 ms after the last answer), per verified request of the chunk: its background work then (the
 * end sweep of what it verified, the poller's idle polls).
 */
async function measureAfter(child: ChildHandle, dbPid: number | undefined, verified: number): Promise<Measured> {
  const s0 = cpuSecondsOf(child.pid);
  const d0 = dbPid === undefined ? 0 : cpuSecondsOf(dbPid);
  await sleep(SETTLE_MS);
  const s1 = cpuSecondsOf(child.pid);
  const d1 = dbPid === undefined ? 0 : cpuSecondsOf(dbPid);
  const per = Math.max(1, verified);
  return { serverUs: ((s1 - s0) * 1e6) / per, dbUs: ((d1 - d0) * 1e6) / per, ok: verified, other: '' };
}

interface Running {
  readonly variant: Variant;
  readonly child: ChildHandle;
  readonly database: string;
  readonly profileDir: string | undefined;
  /** The next unused number index of this variant. */
  next: number;
  codes: [string, string][];
  verified: number;
  readonly send: Measured[];
  readonly verify: Measured[];
  /** CPU in the HTTP_CPU_SETTLE_MS after each verify chunk, per verified request of the chunk. */
  readonly after: Measured[];
  readonly windows: { send: [number, number]; verify: [number, number] };
}

async function start(v: Variant, index: number, admin: Knex): Promise<Running> {
  const database = `otp_httpcpu_${randomBytes(4).toString('hex')}`;
  await admin.raw(`CREATE DATABASE ${database}`);
  const url = `${SERVER}/${database}`;
  const knex = knexFactory({ client: 'mysql2', connection: url, pool: { min: 0, max: 2 } });
  try {
    if (v.app === 'kit') {
      const lib = (await import(`${v.root}/lib/index.ts`)) as { migrateOtpTables: (k: Knex) => Promise<unknown> };
      await lib.migrateOtpTables(knex);
    } else {
      const floor = (await import(`${v.root}/bench/floor-app.ts`)) as { migrateFloor: (k: Knex) => Promise<void> };
      await floor.migrateFloor(knex);
    }
  } finally {
    await knex.destroy();
  }
  const profDir = env.HTTP_CPU_PROF;
  // One directory per variant: tsx's loader thread writes a profile of its own beside the main thread's.
  const profileDir = profDir === undefined || profDir === '' ? undefined : join(resolve(profDir), v.name);
  const execArgv = profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir];
  const extra = JSON.parse(env[`HTTP_CPU_ENV_${v.name}`] ?? '{}') as Record<string, string>;
  const child = await startChild(`${v.root}/bench/${v.app}-app.ts`, { DATABASE_URL: url, BENCH_SECRET: SECRET, NODE_ENV: 'production', ...extra }, execArgv);
  return { variant: v, child, database, profileDir, next: index * 1_000_000, codes: [], verified: 0, send: [], verify: [], after: [], windows: { send: [0, 0], verify: [0, 0] } };
}

function sendBody(r: Running): Next {
  const first = r.next;
  return (k) => ({ body: JSON.stringify({ phone: phoneFor(first + k) }), ip: ipFor(first + k) });
}

async function sends(r: Running, count: number): Promise<{ ok: number; other: string }> {
  const result = await drive(r.child.port, '/otp/sms', count, sendBody(r), 202);
  r.next += count + CONNECTIONS; // autocannon may start a few more than `amount`
  return result;
}

function verifyBody(r: Running): Next {
  const first = r.verified;
  return (k) => {
    // autocannon may start a few more than asked: those repeat a code (and count as failures).
    const [phone, code] = r.codes[(first + k) % r.codes.length] as [string, string];
    return { body: JSON.stringify({ phone, code }), ip: ipFor(65_536 + first + k) };
  };
}

async function verifies(r: Running, count: number): Promise<{ ok: number; other: string }> {
  const result = await drive(r.child.port, '/otp/verify', count, verifyBody(r), 200);
  r.verified += count;
  return result;
}

/** Summarises the main thread's profile of a variant (the largest file of its directory). */
function printProfile(name: string, dir: string, windows: { send: [number, number]; verify: [number, number] }): void {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f));
  const file = files.sort((a, b) => statSync(b).size - statSync(a).size)[0];
  if (file === undefined) return;
  const summary = summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as unknown, windows, 40);
  const show = (title: string, w: WindowSummary): void => {
    console.error(`[http-cpu] profile of ${name}, ${title} (${file}): busy ${w.busyPercent.toFixed(0)}% of ${w.seconds.toFixed(1)} s (the other variants ran meanwhile)`);
    for (const s of w.topFunctions) console.error(`  ${s.percent.toFixed(1).padStart(5)}  ${s.name}`);
    console.error('  self: ' + w.selfByPackage.map((s) => `${s.name} ${s.percent.toFixed(1)}`).join(', '));
    console.error('  inclusive: ' + w.inclusiveByPackage.map((s) => `${s.name} ${s.percent.toFixed(1)}`).join(', '));
  };
  show('send', summary.send);
  show('verify', summary.verify);
}

const median = (values: readonly number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const log = (line: string): void => console.error(`[http-cpu] ${line}`);
const show = (m: Measured): string => `server ${m.serverUs.toFixed(0)} µs, mysqld ${m.dbUs.toFixed(0)} µs (${m.ok} ok${m.other === '' ? '' : `, ${m.other}`})`;

/**
 * Every variant in turn, CHUNKS times, the order alternating: a chunk of sends, then verifies of
 * the codes those sends delivered (fresh, so none has expired on a slow machine).
 */
async function chunks(running: readonly Running[], dbPid: number | undefined): Promise<void> {
  for (let c = 0; c < CHUNKS; c += 1) {
    for (const r of c % 2 === 0 ? running : [...running].reverse()) {
      const mark = async (kind: 'send' | 'verify', at: 0 | 1): Promise<void> => {
        if ((at === 0 && c === 0) || (at === 1 && c === CHUNKS - 1)) r.windows[kind][at] = await r.child.call<number>('now');
      };
      await mark('send', 0);
      const sent = await measure(r.child, dbPid, () => sends(r, CHUNK));
      await mark('send', 1);
      r.send.push(sent);
      r.codes = await r.child.call<[string, string][]>('take-codes');
      r.verified = 0;
      await mark('verify', 0);
      const verified = await measure(r.child, dbPid, () => verifies(r, r.codes.length));
      await mark('verify', 1);
      r.verify.push(verified);
      if (SETTLE_MS > 0) {
        r.after.push(await measureAfter(r.child, dbPid, verified.ok));
      }
      log(`chunk ${c + 1} ${r.variant.name}: send ${show(sent)}; verify ${show(verified)}${SETTLE_MS > 0 ? `; after ${show(r.after.at(-1) as Measured)}` : ''}`);
    }
  }
}

async function main(): Promise<void> {
  const list = variants();
  const dbPid = findDatabasePid();
  const admin = knexFactory({ client: 'mysql2', connection: SERVER, pool: { min: 0, max: 1 } });
  const running: Running[] = [];
  try {
    for (const [i, v] of list.entries()) running.push(await start(v, i + 1, admin));
    for (const r of running) {
      await sends(r, WARMUP);
      r.codes = await r.child.call<[string, string][]>('take-codes');
      await verifies(r, r.codes.length);
    }
    await chunks(running, dbPid);
  } finally {
    for (const r of running) {
      await r.child.exit();
      await admin.raw(`DROP DATABASE IF EXISTS ${r.database}`);
      if (r.profileDir !== undefined) printProfile(r.variant.name, r.profileDir, r.windows);
    }
    await admin.destroy();
  }
  const base = running[0];
  const col = (r: Running, kind: 'send' | 'verify', who: 'serverUs' | 'dbUs'): string => {
    const own = median(r[kind].map((m) => m[who])).toFixed(0);
    if (base === undefined || r === base) return own;
    const ratios = r[kind].map((m, i) => m[who] / ((base[kind][i] as Measured)[who] || Number.NaN));
    return `${own} (${median(ratios).toFixed(3)}×)`;
  };
  console.log(`Medians of ${CHUNKS} chunks (send: ${CHUNK} requests a chunk); in brackets the median chunk-by-chunk ratio to ${base?.variant.name ?? ''}.`);
  console.log('');
  console.log('| variant | send server µs | send mysqld µs | verify server µs | verify mysqld µs |');
  console.log('|---|---|---|---|---|');
  for (const r of running) console.log(`| ${r.variant.name} | ${col(r, 'send', 'serverUs')} | ${col(r, 'send', 'dbUs')} | ${col(r, 'verify', 'serverUs')} | ${col(r, 'verify', 'dbUs')} |`);
  if (SETTLE_MS > 0) printConversations(running);
}

/** `m ± h %`: the mean and the half-width of its 95 % interval (1.96 standard errors). */
function meanWithin95(xs: readonly number[]): string {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / Math.max(1, n);
  const variance = n < 2 ? Number.NaN : xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return `${mean.toFixed(1)} ± ${((1.96 * Math.sqrt(variance)) / Math.sqrt(Math.max(1, n))).toFixed(1)} %`;
}

/**
 * With HTTP_CPU_SETTLE_MS: per chunk, what a conversation (a send, its verify and what the server
 * did in the settle window after them) cost each variant, and each variant's difference to the
 * first variant as a share of the first's cost, chunk by chunk (the median and the chunks' range,
 * and the mean with its 95 % interval: single chunks spread by ±20 % on a busy machine).
 */
function printConversations(running: readonly Running[]): void {
  const base = running[0];
  if (base === undefined) return;
  const cost = (r: Running, i: number, who: 'serverUs' | 'dbUs'): number =>
    ((r.send[i] as Measured)[who] + (r.verify[i] as Measured)[who] + (r.after[i] as Measured)[who]);
  const range = (xs: readonly number[]): string => `${Math.min(...xs).toFixed(1)} to ${Math.max(...xs).toFixed(1)}`;
  console.log('');
  console.log(`A conversation: send + verify + the ${SETTLE_MS} ms after each verify chunk, per verified request (medians of ${CHUNKS} chunks; difference to ${base.variant.name} as % of ${base.variant.name}'s cost, chunk by chunk: median [range]; mean ± its 95 % interval):`);
  console.log('');
  console.log('| variant | after: server µs | after: mysqld µs | server µs | mysqld µs | server + mysqld µs | server difference | server + mysqld difference |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of running) {
    const chunksOf = r.after.map((_m, i) => i);
    const diff = (who: 'server' | 'both'): string => {
      if (r === base) return '—';
      const shares = chunksOf.map((i) => {
        const mine = who === 'server' ? cost(r, i, 'serverUs') : cost(r, i, 'serverUs') + cost(r, i, 'dbUs');
        const theirs = who === 'server' ? cost(base, i, 'serverUs') : cost(base, i, 'serverUs') + cost(base, i, 'dbUs');
        return ((mine - theirs) / theirs) * 100;
      });
      return `${median(shares).toFixed(1)} % [${range(shares)}]; mean ${meanWithin95(shares)}`;
    };
    const server = median(chunksOf.map((i) => cost(r, i, 'serverUs')));
    const db = median(chunksOf.map((i) => cost(r, i, 'dbUs')));
    const after = (who: 'serverUs' | 'dbUs'): string => median(r.after.map((m) => m[who])).toFixed(1);
    console.log(`| ${r.variant.name} | ${after('serverUs')} | ${after('dbUs')} | ${server.toFixed(0)} | ${db.toFixed(0)} | ${(server + db).toFixed(0)} | ${diff('server')} | ${diff('both')} |`);
  }
}

await main();
