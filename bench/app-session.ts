/**
 * One app's server process under `npm run bench` (bench/run.ts): its load phases, the codes it
 * delivered (the verify phase's input), its statements one request at a time, and its memory.
 * A round runs every app's session at once and sends the load to one app at a time, in short
 * alternating chunks (`mergePhases` adds a session's chunks up into one phase), so the moods of a
 * shared machine fall on every app alike; the profile run uses one session from start to end.
 */
import { memoryOf, phoneFor, ipFor, sleep, startChild, type ChildHandle, type StatementSnapshot } from './common.js';
import type { DbWork, DbWorkProbe } from './db-work.js';
import { runPhase, type AppName, type NextRequest, type PhaseResult } from './load.js';
import type { StatementSample } from './report.js';

export interface AppSpec {
  readonly app: AppName;
  readonly file: string;
  readonly paths: { readonly send: string; readonly verify: string };
  readonly sendBody: (phone: string) => unknown;
  readonly verifyBody: (phone: string, code: string) => unknown;
  /** What a successful send answers (verify: 200 everywhere). */
  readonly sendStatus: number;
}

export interface SessionSettings {
  readonly url: string;
  readonly secret: string;
  readonly dbPid: number | undefined;
  readonly connections: number;
  readonly probe?: DbWorkProbe;
  readonly execArgv?: readonly string[];
  readonly log: (line: string) => void;
}

export interface AppSession {
  readonly spec: AppSpec;
  readonly child: ChildHandle;
  /** RSS once the server is ready, before any load. */
  readonly readyRssKb: number;
  /** One load phase of `seconds`; verify requests carry the live codes collected so far. */
  phase(kind: 'send' | 'verify', seconds: number): Promise<PhaseResult>;
  /** Fetches the codes the server delivered since the last call. */
  collectCodes(): Promise<void>;
  /** Sends in process (not measured) until `wanted` live codes wait for the verify phase. */
  topUpCodes(wanted: number): Promise<void>;
  /** Ten sends and ten verifies one at a time over HTTP, each with its statements. */
  sequentialStatements(): Promise<{ send: StatementSample[]; verify: StatementSample[] }>;
  /** The server's clock (µs), for profile windows. */
  now(): Promise<number>;
  /** Stops the server; resolves with its peak RSS (VmHWM). */
  close(): Promise<number>;
}

const SEQUENTIAL = 10;

export async function openSession(spec: AppSpec, firstIndex: number, s: SessionSettings): Promise<AppSession> {
  const child = await startChild(spec.file, { DATABASE_URL: s.url, BENCH_SECRET: s.secret, NODE_ENV: 'production' }, s.execArgv ?? []);
  // Before any load: what loading the app costs.
  const readyRssKb = memoryOf(child.pid).rssKb;
  let peakRssKb = 0;
  const sampler = setInterval(() => {
    peakRssKb = Math.max(peakRssKb, memoryOf(child.pid).rssKb);
  }, 100);
  let index = firstIndex;
  const codes: [string, string][] = [];
  let cursor = 0;
  let verifyIp = 0;

  const sendNext = (): NextRequest => {
    const i = index;
    index += 1;
    return { body: JSON.stringify(spec.sendBody(phoneFor(i))), ip: ipFor(i) };
  };
  const verifyNext = (): NextRequest | undefined => {
    const entry = codes[cursor];
    if (entry === undefined) return undefined;
    cursor += 1;
    verifyIp += 1;
    return { body: JSON.stringify(spec.verifyBody(entry[0], entry[1])), ip: ipFor(65_536 + verifyIp) };
  };
  const collectCodes = async (): Promise<void> => {
    codes.push(...(await child.call<[string, string][]>('take-codes')));
  };

  return {
    spec,
    child,
    readyRssKb,
    phase: (kind, seconds) =>
      runPhase({
        app: spec.app,
        kind,
        child,
        dbPid: s.dbPid,
        path: spec.paths[kind],
        duration: seconds,
        connections: s.connections,
        next: kind === 'send' ? sendNext : verifyNext,
        successStatus: kind === 'send' ? spec.sendStatus : 200,
        ...(s.probe === undefined ? {} : { probe: s.probe }),
      }),
    collectCodes,
    async topUpCodes(wanted) {
      const missing = wanted - (codes.length - cursor);
      if (missing <= 0) return;
      s.log(`${spec.app}: preparing ${missing} live codes in process`);
      const prepared = await child.call<{ ok: number; failed: number; firstError?: string }>('prepare', { from: index, count: missing, concurrency: 32 });
      index += missing;
      if (prepared.failed > 0) s.log(`${spec.app}: ${prepared.failed} prepared sends failed: ${prepared.firstError ?? ''}`);
      await collectCodes();
    },
    async sequentialStatements() {
      // Let requests still in flight from the last phase finish before counting one at a time.
      await sleep(1_000);
      const from = index;
      index += SEQUENTIAL;
      return oneAtATime(spec, child, from);
    },
    now: () => child.call<number>('now'),
    async close() {
      clearInterval(sampler);
      peakRssKb = Math.max(peakRssKb, memoryOf(child.pid).peakKb);
      await child.exit();
      return peakRssKb;
    },
  };
}

/** Sequential sends and verifies over HTTP, each with its own statement count and SQL. */
async function oneAtATime(spec: AppSpec, child: ChildHandle, from: number): Promise<{ send: StatementSample[]; verify: StatementSample[] }> {
  const base = `http://127.0.0.1:${child.port}`;
  const one = async (path: string, body: unknown, ip: string): Promise<StatementSample> => {
    await child.call('stats-reset', { log: true });
    const response = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': ip }, body: JSON.stringify(body) });
    await response.arrayBuffer();
    await sleep(20); // anything the server does right after answering
    const snap = await child.call<StatementSnapshot>('stats');
    return { status: response.status, knex: snap.knex, driver: snap.driver, sql: snap.sql, driverSql: snap.driverSql };
  };
  const send: StatementSample[] = [];
  for (let k = 0; k < SEQUENTIAL; k += 1) send.push(await one(spec.paths.send, spec.sendBody(phoneFor(from + k)), ipFor(100_000 + k)));
  const codes = new Map(await child.call<[string, string][]>('take-codes'));
  const verify: StatementSample[] = [];
  for (let k = 0; k < SEQUENTIAL; k += 1) {
    const phone = phoneFor(from + k);
    verify.push(await one(spec.paths.verify, spec.verifyBody(phone, codes.get(phone) ?? '000000'), ipFor(110_000 + k)));
  }
  return { send, verify };
}

/**
 * The chunks of one app's phase as one phase: counts, seconds and CPU add up, rates and per-request
 * figures are over the sum, the mean latency is weighted by responses and p50 likewise (the chunks'
 * middle), and p99 is the highest chunk's (autocannon reports percentiles, not histograms, so the
 * p99 of the whole is at most that).
 */
export function mergePhases(chunks: readonly PhaseResult[]): PhaseResult {
  const first = chunks[0];
  if (first === undefined) throw new Error('mergePhases needs at least one chunk');
  if (chunks.length === 1) return first;
  const sum = (f: (p: PhaseResult) => number): number => chunks.reduce((a, p) => a + f(p), 0);
  const seconds = sum((p) => p.seconds);
  const ok = sum((p) => p.ok);
  const requests = sum((p) => p.requests);
  const byResponses = (f: (p: PhaseResult) => number): number => (requests === 0 ? 0 : sum((p) => f(p) * p.requests) / requests);
  const statusCodes: Record<string, number> = {};
  for (const p of chunks) for (const [code, n] of Object.entries(p.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n;
  const cores = (f: (p: PhaseResult) => number): number => sum((p) => f(p) * p.seconds) / seconds;
  return {
    app: first.app,
    kind: first.kind,
    seconds,
    ok,
    requests,
    statusCodes,
    errors: sum((p) => p.errors),
    timeouts: sum((p) => p.timeouts),
    rps: ok / seconds,
    p50: byResponses((p) => p.p50),
    p99: Math.max(...chunks.map((p) => p.p99)),
    mean: byResponses((p) => p.mean),
    cpu: { server: cores((p) => p.cpu.server), db: cores((p) => p.cpu.db), loadgen: cores((p) => p.cpu.loadgen) },
    knexPerRequest: byResponses((p) => p.knexPerRequest),
    driverPerRequest: byResponses((p) => p.driverPerRequest),
    exhausted: chunks.some((p) => p.exhausted),
    ...mergedWork(chunks),
  };
}

/** DbWork is per successful request: the sum over the chunks, over their successes. */
function mergedWork(chunks: readonly PhaseResult[]): { dbWork?: DbWork } {
  const works = chunks.map((p) => p.dbWork);
  if (works.some((w) => w === undefined)) return {};
  const ok = chunks.reduce((a, p) => a + p.ok, 0);
  const keys = Object.keys(works[0] as DbWork) as Array<keyof DbWork>;
  const merged = {} as Record<keyof DbWork, number>;
  for (const key of keys) merged[key] = ok === 0 ? 0 : chunks.reduce((a, p) => a + (p.dbWork as DbWork)[key] * p.ok, 0) / ok;
  return { dbWork: merged };
}
