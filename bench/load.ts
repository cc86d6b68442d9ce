/**
 * One load phase: autocannon in this process against a server child on loopback, with a body (and
 * a client IP) per request, plus the CPU each side used and the statements the server ran.
 */
import autocannon, { type AutocannonRequest } from 'autocannon';
import { cpuSecondsOf, sleep, type ChildHandle, type StatementSnapshot } from './common.js';
import { workPer, type DbWork, type DbWorkProbe } from './db-work.js';

export interface NextRequest {
  readonly body: string;
  readonly ip: string;
}

/** The apps measured: the floor, the kit, and a peer library (bench/peer-app.ts). */
export type AppName = 'floor' | 'kit' | 'peer';

export interface PhaseResult {
  readonly app: AppName;
  readonly kind: 'send' | 'verify';
  readonly seconds: number;
  /** Responses with the success status (202 for the kit's and floor's send, 200 otherwise). */
  readonly ok: number;
  readonly requests: number;
  readonly statusCodes: Readonly<Record<string, number>>;
  readonly errors: number;
  readonly timeouts: number;
  /** Successful requests per second. */
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
  /** Cores busy on average during the phase (1.0 = one core). */
  readonly cpu: { readonly server: number; readonly db: number; readonly loadgen: number };
  /** Statements per completed request during the phase (Knex events / driver calls). */
  readonly knexPerRequest: number;
  readonly driverPerRequest: number;
  /** True when the prepared codes ran out and the phase was stopped early. */
  readonly exhausted: boolean;
  /** MariaDB's own count of its work per successful request (bench/db-work.ts), when probed. */
  readonly dbWork?: DbWork;
}

export interface PhaseOptions {
  readonly app: AppName;
  readonly kind: 'send' | 'verify';
  readonly child: ChildHandle;
  readonly dbPid: number | undefined;
  readonly path: string;
  readonly duration: number;
  readonly connections: number;
  /** The next request's body and client IP; undefined when there is nothing left to send. */
  readonly next: () => NextRequest | undefined;
  readonly successStatus: number;
  /** Reads MariaDB's work counters before and after the phase. */
  readonly probe?: DbWorkProbe;
}

export async function runPhase(o: PhaseOptions): Promise<PhaseResult> {
  await sleep(300); // requests of the previous phase still in flight
  await o.child.call('stats-reset', { log: false });
  const cpuServer = cpuSecondsOf(o.child.pid);
  const cpuDb = o.dbPid === undefined ? 0 : cpuSecondsOf(o.dbPid);
  const cpuSelf = process.cpuUsage();
  const work0 = await o.probe?.read();
  let exhausted = false;
  let exhaustedAt: number | undefined;
  let last: NextRequest = { body: '{}', ip: '198.18.0.1' };
  const request: AutocannonRequest = {
    method: 'POST',
    path: o.path,
    headers: { 'content-type': 'application/json' },
    setupRequest(req) {
      const next = o.next();
      if (next === undefined) {
        // autocannon needs a request here: the last one is repeated (and fails) until the phase
        // stops, and the rate is taken up to this moment.
        if (!exhausted) {
          exhausted = true;
          exhaustedAt = performance.now();
          setImmediate(() => instance.stop());
        }
      } else {
        last = next;
      }
      return { ...req, body: last.body, headers: { ...req.headers, 'x-forwarded-for': last.ip } };
    },
  };
  const started = performance.now();
  const instance = autocannon({ url: `http://127.0.0.1:${o.child.port}`, connections: o.connections, duration: o.duration, timeout: 30, requests: [request] });
  const result = await instance;
  const seconds = ((exhaustedAt ?? performance.now()) - started) / 1000;
  const self = process.cpuUsage(cpuSelf);
  const work1 = await o.probe?.read();
  const stats = await o.child.call<StatementSnapshot>('stats');
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, Number(s.count)]));
  const ok = statusCodes[String(o.successStatus)] ?? 0;
  const completed = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  return {
    app: o.app,
    kind: o.kind,
    seconds,
    ok,
    requests: completed,
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
    rps: ok / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    mean: result.latency.mean,
    cpu: {
      server: (cpuSecondsOf(o.child.pid) - cpuServer) / seconds,
      db: o.dbPid === undefined ? 0 : (cpuSecondsOf(o.dbPid) - cpuDb) / seconds,
      loadgen: (self.user + self.system) / 1e6 / seconds,
    },
    knexPerRequest: stats.knex / Math.max(1, completed),
    driverPerRequest: stats.driver / Math.max(1, completed),
    exhausted,
    ...(work0 === undefined || work1 === undefined ? {} : { dbWork: workPer(work0, work1, ok) }),
  };
}
