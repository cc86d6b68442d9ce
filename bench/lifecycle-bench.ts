/**
 * The lifecycle phase of `npm run bench` (issue 14), on MariaDB in a database of its own: send and
 * verify throughput of the kit on an empty request table, then with BENCH_LIFECYCLE_ROWS (2,000,000)
 * old rows in it, then with a second process purging those rows (`otp.purge()`, default retention)
 * beside the same load. Targets: old rows cost at most 10 % of the throughput, the purge beside the
 * load at most 15 % (against the conditions just before and after it, the purge paused). It writes its own section of docs/benchmarks.md (between the lifecycle markers).
 *
 * BENCH_LIFECYCLE=0 skips it; BENCH_ONLY=lifecycle (`npm run bench:lifecycle`) runs only it.
 * BENCH_LIFECYCLE_ROWS, BENCH_LIFECYCLE_MAX_SECONDS (900: the whole phase, seeding included; the
 * purge is stopped when the load ends) and BENCH_RETENTION (JSON for the purging kit's `retention`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import { migrateOtpTables, type PurgeResult } from '../lib/index.js';
import { findDatabasePid, ipFor, phoneFor, sleep, startChild, type ChildHandle } from './common.js';
import { runPhase, type PhaseResult } from './load.js';

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

export interface LifecycleBenchOptions {
  /** mysql://user@host:port, without a database. */
  readonly server: string;
  readonly secret: string;
  readonly rows: number;
  readonly duration: number;
  readonly warmup: number;
  readonly connections: number;
  readonly maxSeconds: number;
  readonly log: (line: string) => void;
}

interface Condition {
  readonly send: PhaseResult;
  readonly verify: PhaseResult;
}

export interface LifecycleBenchResult {
  readonly rows: number;
  readonly seedSeconds: number;
  readonly empty: Condition;
  readonly old: Condition;
  readonly purging: Condition;
  /** The old rows left, with the purge paused, measured right after `purging`. */
  readonly paused: Condition | undefined;
  /** The table once the purge is done (nearly empty again): the machine's drift over the phase. */
  readonly after: Condition | undefined;
  /** What the purging process had deleted when the load ended, and how long it had run. */
  readonly purgeDuringLoad: { readonly requests: number; readonly seconds: number; readonly finished: boolean };
  /** The purge run to its end (bounded by maxSeconds). */
  readonly purge: { readonly result?: PurgeResult; readonly seconds?: number; readonly error?: string };
  readonly left: number;
  readonly minutes: number;
}

/** Old rows, expired 40 days ago, inserted by MariaDB itself from its sequence engine (100,000 a statement). */
async function seedOldRows(knex: Knex, rows: number, log: (line: string) => void): Promise<number> {
  const started = performance.now();
  const base = Date.now() - 40 * 86_400_000 - rows;
  const tag = randomBytes(4).toString('hex');
  const columns = 'request_id, phone, channel, purpose, chain, provider, provider_ref, code_owner, code_digest, message_template, status, send_attempts, verify_status, attempts, verified_at, client_ip, expires_at, created_at, updated_at';
  const chunk = 100_000;
  for (let from = 1; from <= rows; from += chunk) {
    const to = Math.min(rows, from + chunk - 1);
    await knex.raw(
      `INSERT INTO otp_requests (${columns}) SELECT CONCAT('old-', ?, '-', seq), CONCAT('+3598', 7 + seq % 3, LPAD(FLOOR(seq / 3) % 10000000, 7, '0')), ` +
        `'sms', 'default', 'Bench', 'Bench', CONCAT('bench-', seq), 'kit', SHA2(seq, 256), 'Your _APP_ code is _CODE_', 'sent', 1, ` +
        `IF(seq % 4 = 0, 'verified', 'superseded'), 0, IF(seq % 4 = 0, ? + seq, NULL), CONCAT('198.18.', seq % 256, '.', FLOOR(seq / 256) % 256), ? + seq, ? + seq, ? + seq ` +
        `FROM seq_${from}_to_${to}`,
      [tag, base - 100_000, base, base - 300_000, base],
    );
    if ((to / chunk) % 5 === 0 || to === rows) log(`lifecycle: seeded ${to} old rows`);
  }
  await knex.raw('ANALYZE TABLE otp_requests');
  return (performance.now() - started) / 1000;
}

/** Rows of the table; `oldOnly`: only the seeded ones (expired over a month ago: a range of the `expires_at` index). */
async function countRequests(knex: Knex, oldOnly = false): Promise<number> {
  const [rows] = (await knex.raw(`SELECT COUNT(*) AS n FROM otp_requests${oldOnly ? ' WHERE expires_at < ?' : ''}`, oldOnly ? [Date.now() - 31 * 86_400_000] : [])) as [Array<{ n: number | string }>];
  return Number(rows[0]?.n ?? 0);
}

/** Send and verify phases against the running kit child; numbers and codes continue across conditions. */
function loadDriver(o: LifecycleBenchOptions, child: ChildHandle, dbPid: number | undefined) {
  let index = 20_000_000;
  const codes: [string, string][] = [];
  let cursor = 0;
  let verifyIp = 0;
  const next = {
    send: () => {
      const i = index;
      index += 1;
      return { body: JSON.stringify({ phone: phoneFor(i) }), ip: ipFor(i) };
    },
    verify: () => {
      const entry = codes[cursor];
      if (entry === undefined) return undefined;
      cursor += 1;
      verifyIp += 1;
      return { body: JSON.stringify({ phone: entry[0], code: entry[1] }), ip: ipFor(65_536 + verifyIp) };
    },
  };
  const phase = (kind: 'send' | 'verify', duration: number): Promise<PhaseResult> =>
    runPhase({ app: 'kit', kind, child, dbPid, path: kind === 'send' ? '/otp/sms' : '/otp/verify', duration, connections: o.connections, next: next[kind], successStatus: kind === 'send' ? 202 : 200 });
  const take = async (): Promise<void> => {
    codes.push(...(await child.call<[string, string][]>('take-codes')));
  };

  return async function condition(label: string): Promise<Condition> {
    await take();
    cursor = codes.length; // codes of an earlier condition may have expired meanwhile
    o.log(`lifecycle ${label}: warm-up send ${o.warmup} s, send ${o.duration} s`);
    await phase('send', o.warmup);
    const send = await phase('send', o.duration);
    await take();
    const missing = Math.ceil(send.rps * (o.duration + o.warmup) * 1.6) + 2_000 - (codes.length - cursor);
    if (missing > 0) {
      await child.call('prepare', { from: index, count: missing, concurrency: 32 });
      index += missing;
      await take();
    }
    o.log(`lifecycle ${label}: warm-up verify ${o.warmup} s, verify ${o.duration} s`);
    await phase('verify', o.warmup);
    const verify = await phase('verify', o.duration);
    o.log(`lifecycle ${label}: send ${send.rps.toFixed(0)}/s, verify ${verify.rps.toFixed(0)}/s`);
    return { send, verify };
  };
}

export async function runLifecycleBench(o: LifecycleBenchOptions): Promise<LifecycleBenchResult> {
  const started = Date.now();
  const deadline = started + o.maxSeconds * 1000;
  const name = `otp_life_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({ client: 'mysql2', connection: o.server, pool: { min: 0, max: 1 } });
  await admin.raw(`CREATE DATABASE ${name}`);
  const url = `${o.server}/${name}`;
  const knex = knexFactory({ client: 'mysql2', connection: url, pool: { min: 0, max: 2 } });
  let kit: ChildHandle | undefined;
  let purger: ChildHandle | undefined;
  try {
    await migrateOtpTables(knex);
    const dbPid = findDatabasePid();
    kit = await startChild(here('./kit-app.ts'), { DATABASE_URL: url, BENCH_SECRET: o.secret, NODE_ENV: 'production' });
    const condition = loadDriver(o, kit, dbPid);
    const empty = await condition('empty table');
    o.log(`lifecycle: seeding ${o.rows} old rows`);
    const seedSeconds = await seedOldRows(knex, o.rows, o.log);
    if (Date.now() > deadline) throw new Error(`lifecycle: over BENCH_LIFECYCLE_MAX_SECONDS=${o.maxSeconds} after seeding`);
    const old = await condition(`${o.rows} old rows`);
    // Not production: the purging kit routes to the Console provider, which it never calls.
    purger = await startChild(here('./purge-worker.ts'), { DATABASE_URL: url, BENCH_SECRET: o.secret, NODE_ENV: 'development' });
    const purgeStarted = performance.now();
    await purger.call('start');
    const purging = await condition('old rows, purge beside');
    const first = await purger.call<{ result?: PurgeResult; seconds?: number }>('stop');
    const during = { requests: o.rows - (await countRequests(knex, true)), seconds: (performance.now() - purgeStarted) / 1000, finished: first.result?.complete === true };
    // The same table with the purge paused, right after: what the machine gives without it now.
    const paused = during.finished ? undefined : await condition('old rows, purge paused');
    const restarted = performance.now();
    if (!during.finished) await purger.call('start');
    let status: { result?: PurgeResult; seconds?: number } = during.finished ? first : {};
    while (status.result === undefined && Date.now() < deadline) {
      await sleep(1_000);
      status = await purger.call<{ result?: PurgeResult; seconds?: number }>('status');
    }
    await purger.call('stop');
    const seconds = during.seconds + (during.finished ? 0 : (performance.now() - restarted) / 1000);
    const second = during.finished ? undefined : status.result;
    const total = first.result === undefined ? second : { ...first.result, requests: first.result.requests + (second?.requests ?? 0), complete: (second ?? first.result).complete };
    const purge = { ...(total === undefined ? {} : { result: total }), seconds };
    const left = await countRequests(knex);
    const after = purge.result?.complete === true && Date.now() < deadline ? await condition('after the purge') : undefined;
    return { rows: o.rows, seedSeconds, empty, old, purging, paused, after, purgeDuringLoad: during, purge, left, minutes: (Date.now() - started) / 60_000 };
  } finally {
    await purger?.exit();
    await kit?.exit();
    await knex.destroy();
    await admin.raw(`DROP DATABASE IF EXISTS ${name}`);
    await admin.destroy();
  }
}

const BEGIN = '<!-- bench:lifecycle:begin (the lifecycle phase of npm run bench -- --write-docs rewrites this section) -->';
const END = '<!-- bench:lifecycle:end -->';

const pct = (value: number, base: number): string => `${(((value - base) / base) * 100).toFixed(1)} %`;

export function renderLifecycle(r: LifecycleBenchResult, date: string): string {
  const row = (label: string, c: Condition): string =>
    `| ${label} | ${c.send.rps.toFixed(0)} | ${c.send.p99} | ${c.verify.rps.toFixed(0)} | ${c.verify.p99} | ${c.send.cpu.db.toFixed(2)} / ${c.verify.cpu.db.toFixed(2)} |`;
  const judge = (ok: boolean): string => (ok ? 'met' : '**missed**');
  const oldSend = r.old.send.rps / r.empty.send.rps;
  const oldVerify = r.old.verify.rps / r.empty.verify.rps;
  // Without the purge: the mean of the conditions just before and just after it.
  const without = (kind: 'send' | 'verify'): number => (r.paused === undefined ? r.old[kind].rps : (r.old[kind].rps + r.paused[kind].rps) / 2);
  const purgeSend = r.purging.send.rps / without('send');
  const purgeVerify = r.purging.verify.rps / without('verify');
  const purgeRate = r.purge.result !== undefined && r.purge.seconds !== undefined ? `${(r.purge.result.requests / r.purge.seconds).toFixed(0)} rows/s` : 'not finished';
  return [
    '## Data lifecycle: old rows and the purge beside the load',
    '',
    `Measured ${date} by the lifecycle phase of \`npm run bench\` (\`npm run bench:lifecycle\` alone; bench/lifecycle-bench.ts), in ${r.minutes.toFixed(1)} minutes on MariaDB, ` +
      'one kit process under the same load as above, conditions one after the other in one process. The purge runs in a second process with the default retention ' +
      '(batches of 5,000 rows walked along the `expires_at` index, each followed by a pause of nine times its duration: `busyShare` 0.1).',
    '',
    '| condition | send req/s | send p99 ms | verify req/s | verify p99 ms | DB cores (send / verify) |',
    '|---|---|---|---|---|---|',
    row('empty table', r.empty),
    row(`${r.rows.toLocaleString('en')} old rows`, r.old),
    row('old rows, purge beside', r.purging),
    ...(r.paused === undefined ? [] : [row('old rows left, purge paused', r.paused)]),
    ...(r.after === undefined ? [] : [row('after the purge (empty again)', r.after)]),
    '',
    `- ${r.rows.toLocaleString('en')} old rows seeded in ${r.seedSeconds.toFixed(0)} s (INSERT … SELECT from the sequence engine, 100,000 rows a statement).`,
    `- Old rows vs. empty table: send ${pct(r.old.send.rps, r.empty.send.rps)}, verify ${pct(r.old.verify.rps, r.empty.verify.rps)} (target: within 10 %: ${judge(oldSend >= 0.9 && oldVerify >= 0.9)}).`,
    `- Purge beside the load vs. the same table without it (${r.paused === undefined ? 'the old-rows condition' : 'mean of the conditions just before and after'}): send ${pct(r.purging.send.rps, without('send'))}, verify ${pct(r.purging.verify.rps, without('verify'))} (target: at most 15 % less: ${judge(purgeSend >= 0.85 && purgeVerify >= 0.85)}).`,
    '- The machine is shared (2 cores, other work running): compare neighbouring rows, and the DB cores column, rather than single figures.' +
      (r.after === undefined ? '' : ` The same nearly empty table at the start and at the end of the run differed by send ${pct(r.after.send.rps, r.empty.send.rps)}, verify ${pct(r.after.verify.rps, r.empty.verify.rps)}: the run's noise.`),
    `- While the load ran (${r.purgeDuringLoad.seconds.toFixed(0)} s) the purge deleted ${r.purgeDuringLoad.requests.toLocaleString('en')} rows${r.purgeDuringLoad.finished ? ' and finished' : ''}; ` +
      `in all it deleted ${(r.purge.result?.requests ?? 0).toLocaleString('en')} rows in ${(r.purge.seconds ?? 0).toFixed(0)} s (${purgeRate}); ${r.left.toLocaleString('en')} rows were left (the live ones).`,
  ].join('\n');
}

export function writeLifecycle(markdown: string, file: string): void {
  const section = `${BEGIN}\n\n${markdown.trimEnd()}\n\n${END}`;
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const begin = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  writeFileSync(file, begin >= 0 && end > begin ? current.slice(0, begin) + section + current.slice(end + END.length) : `${current.trimEnd()}\n\n${section}\n`);
}
