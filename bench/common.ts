/**
 * Shared parts of the benchmark: load data (distinct valid numbers and client IPs), statement
 * counters, the IPC protocol between the orchestrator and the server processes, and /proc readers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { compiledEntry, runsCompiled } from './compiled.js';
import { readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import mysql2 from 'mysql2';

// ---------------------------------------------------------------------------------------------
// Load data

/**
 * The i-th distinct Bulgarian mobile number (+359 87/88/89 and 7 digits, valid for
 * libphonenumber-js/max). The subscriber digits are the index reversed, so neighbouring requests
 * differ in the leading digits and spread over many number prefixes (per-prefix limits).
 */
export function phoneFor(i: number): string {
  const operator = 7 + (i % 3);
  const rest = String(Math.floor(i / 3) % 10_000_000).padStart(7, '0');
  return `+3598${operator}${rest.split('').reverse().join('')}`;
}

/** The i-th client address in 198.18.0.0/15 (RFC 2544, set aside for benchmarks). */
export function ipFor(i: number): string {
  const n = i % 131_072;
  return `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

// ---------------------------------------------------------------------------------------------
// Statement counters

export interface StatementSnapshot {
  /** Statements seen through Knex `query` events. */
  readonly knex: number;
  /** Statements seen by the mysql2 driver (anything, also SQL that bypasses Knex). */
  readonly driver: number;
  /** The statements while logging was on (Knex events: SQL with the dialect's placeholders). */
  readonly sql: readonly LoggedStatement[];
  /** The SQL the driver was given while logging was on, in order (Knex's and everything else). */
  readonly driverSql: readonly string[];
}

export interface LoggedStatement {
  readonly sql: string;
  readonly bindings: readonly Binding[];
}

export type Binding = string | number | boolean | null;

export interface StatementCounter {
  /** Counts Knex `query` events of this instance (call once per Knex). */
  watch(knex: Knex): void;
  reset(log: boolean): void;
  snapshot(): StatementSnapshot;
  /** Statement shapes (SQL text, IN lists folded) with counts and the first bindings seen, since the last reset. */
  shapes(): ShapeCount[];
}

export interface ShapeCount extends LoggedStatement {
  /** The SQL with IN lists folded; `sql` and `bindings` are the first real statement of the shape. */
  readonly shape: string;
  readonly count: number;
}

interface QueryEvent {
  readonly sql?: unknown;
  readonly bindings?: unknown;
}

function toBinding(v: unknown): Binding {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (v instanceof Date) return v.getTime();
  if (Buffer.isBuffer(v)) return v.toString('hex');
  return JSON.stringify(v) ?? null;
}

/** Bindings made safe for IPC and EXPLAIN (Dates as epoch ms, Buffers as hex, the rest as JSON). */
export function plainBindings(value: unknown): Binding[] {
  return Array.isArray(value) ? value.map(toBinding) : [];
}

/** Folds `in (?, ?, ?)` lists so statements that differ only in list length count as one shape. */
export function shapeOf(sql: string): string {
  return sql.replace(/\bin \((?:\?|\$\d+)(?:, (?:\?|\$\d+))*\)/gi, 'in (…)').replace(/;+\s*$/, '');
}

function sqlOf(arg: unknown): string {
  if (typeof arg === 'string') return arg;
  const sql = (arg as { sql?: unknown } | null)?.sql;
  return typeof sql === 'string' ? sql : '?';
}

type Patchable = Record<string, unknown> & { query?: (...args: unknown[]) => unknown; execute?: (...args: unknown[]) => unknown };

/**
 * Counts statements at two levels: Knex `query` events (what the brief asks for, with the SQL) and
 * the mysql2 driver's `query`/`execute` calls, which also catch statements that do not go through
 * Knex (e.g. a rate limiter that borrows a raw connection from the pool).
 */
export function createStatementCounter(options: { keepShapes?: boolean } = {}): StatementCounter {
  let knexCount = 0;
  let driverCount = 0;
  let logging = false;
  let log: LoggedStatement[] = [];
  let driverLog: string[] = [];
  const shapes = new Map<string, { count: number; sql: string; bindings: Binding[] }>();

  const proto = (mysql2 as unknown as { Connection: { prototype: Patchable } }).Connection.prototype;
  for (const method of ['query', 'execute'] as const) {
    const original = proto[method];
    if (typeof original !== 'function') continue;
    proto[method] = function counted(this: unknown, ...args: unknown[]) {
      driverCount += 1;
      if (logging) driverLog.push(sqlOf(args[0]));
      return original.apply(this, args);
    };
  }

  return {
    watch(knex) {
      knex.on('query', (event: QueryEvent) => {
        knexCount += 1;
        const sql = typeof event.sql === 'string' ? event.sql : '';
        if (logging) log.push({ sql, bindings: plainBindings(event.bindings) });
        if (options.keepShapes === true) {
          const key = shapeOf(sql);
          const shape = shapes.get(key);
          if (shape === undefined) shapes.set(key, { count: 1, sql, bindings: plainBindings(event.bindings) });
          else shape.count += 1;
        }
      });
    },
    reset(logNext) {
      knexCount = 0;
      driverCount = 0;
      logging = logNext;
      log = [];
      driverLog = [];
      shapes.clear();
    },
    snapshot: () => ({ knex: knexCount, driver: driverCount, sql: [...log], driverSql: [...driverLog] }),
    shapes: () => [...shapes.entries()].map(([shape, s]) => ({ shape, ...s })).sort((a, b) => b.count - a.count),
  };
}

// ---------------------------------------------------------------------------------------------
// IPC between the orchestrator and the server processes

export interface RpcRequest {
  readonly rpc: number;
  readonly type: string;
  readonly args?: unknown;
}

export interface RpcReply {
  readonly rpc: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

export type RpcHandlers = Record<string, (args: unknown) => unknown>;

function isRpcRequest(message: unknown): message is RpcRequest {
  return typeof message === 'object' && message !== null && typeof (message as RpcRequest).rpc === 'number' && typeof (message as RpcRequest).type === 'string';
}

/**
 * The child side: listens on 127.0.0.1 with an ephemeral port, tells the parent the port, answers
 * its calls, and closes everything on `exit`.
 */
export async function serveChild(server: Server | undefined, handlers: RpcHandlers, close: () => Promise<void>): Promise<void> {
  let port = 0;
  if (server !== undefined) {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  }
  const send = (message: unknown): void => {
    if (process.send !== undefined && process.connected) process.send(message);
  };
  let closing: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (closing ??= (async () => {
      if (server !== undefined) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      await close();
    })());
  // If the orchestrator goes away (crash, Ctrl-C), this process ends too instead of lingering.
  process.once('disconnect', () => {
    void shutdown().finally(() => process.exit(0));
  });
  process.on('message', (message: unknown) => {
    if (!isRpcRequest(message)) return;
    if (message.type === 'exit') {
      void shutdown().then(() => {
        send({ rpc: message.rpc, ok: true });
        process.disconnect();
      });
      return;
    }
    // The monotonic clock V8's CPU profiles use, to cut a profile to a load phase.
    const handler = message.type === 'now' ? () => Number(process.hrtime.bigint() / 1000n) : handlers[message.type];
    if (handler === undefined) {
      send({ rpc: message.rpc, ok: false, error: `unknown call ${message.type}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(message.args))
      .then(
        (result) => send({ rpc: message.rpc, ok: true, result }),
        (error: unknown) => send({ rpc: message.rpc, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      );
  });
  send({ rpc: 0, ok: true, result: { port } });
}

/** The parent side of one server process. */
export interface ChildHandle {
  readonly pid: number;
  readonly port: number;
  readonly process: ChildProcess;
  call<T>(type: string, args?: unknown): Promise<T>;
  /** Asks the child to close and waits for it to exit. */
  exit(): Promise<void>;
}

/**
 * Starts `file` (a TypeScript source; run compiled ahead of time, or through tsx with BENCH_TSX=1:
 * bench/compiled.ts) with IPC and waits for its ready message.
 */
export async function startChild(file: string, env: Record<string, string>, execArgv: readonly string[] = []): Promise<ChildHandle> {
  const compiled = runsCompiled();
  const child = fork(compiled ? await compiledEntry(file) : file, [], {
    execArgv: compiled ? [...execArgv] : ['--import', 'tsx', ...execArgv],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let next = 1;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<{ port: number }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${file} exited with code ${String(code)} before it was ready`)));
    child.on('message', (message: unknown) => {
      const reply = message as RpcReply;
      if (reply.rpc === 0) {
        resolve(reply.result as { port: number });
        return;
      }
      const waiter = pending.get(reply.rpc);
      if (waiter === undefined) return;
      pending.delete(reply.rpc);
      if (reply.ok) waiter.resolve(reply.result);
      else waiter.reject(new Error(`${file}: ${reply.error ?? 'call failed'}`));
    });
  });
  void exited.then((code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`${file} exited with code ${String(code)}`));
    pending.clear();
  });
  const { port } = await ready;
  const call = <T>(type: string, args?: unknown): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const rpc = next;
      next += 1;
      pending.set(rpc, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ rpc, type, args } satisfies RpcRequest);
    });
  return {
    pid: child.pid ?? 0,
    port,
    process: child,
    call,
    async exit() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      try {
        await call('exit').catch(() => undefined);
        await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Codes recorded by the in-process delivery (both apps)

/** phone → last code delivered to it, handed to the orchestrator on request. */
export function createCodeBook(): { record(phone: string, code: string): void; take(): [string, string][] } {
  let book = new Map<string, string>();
  return {
    record(phone, code) {
      book.set(phone, code);
    },
    take() {
      const out = [...book.entries()];
      book = new Map();
      return out;
    },
  };
}

/**
 * The calls every app server answers: the codes delivered since the last call, `prepare` (live codes
 * sent in process, `sendOne(i)` for the i-th number) and the statement counts.
 */
export function appHandlers(book: { take(): [string, string][] }, counter: StatementCounter, sendOne: (i: number) => Promise<unknown>): RpcHandlers {
  return {
    'take-codes': () => book.take(),
    prepare: (args) => {
      const { from, count, concurrency } = args as { from: number; count: number; concurrency: number };
      return runPool(from, count, concurrency, async (i) => {
        await sendOne(i);
      });
    },
    'stats-reset': (args) => counter.reset((args as { log?: boolean } | undefined)?.log === true),
    stats: () => counter.snapshot(),
  };
}

/** Runs `count` calls of `task(i)` for i in [from, from+count) with `concurrency` in flight. */
export async function runPool(from: number, count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<{ ok: number; failed: number; firstError?: string }> {
  let cursor = from;
  let ok = 0;
  let failed = 0;
  let firstError: string | undefined;
  const end = from + count;
  const worker = async (): Promise<void> => {
    while (cursor < end) {
      const i = cursor;
      cursor += 1;
      try {
        await task(i);
        ok += 1;
      } catch (error) {
        failed += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, () => worker()));
  return { ok, failed, ...(firstError === undefined ? {} : { firstError }) };
}

// ---------------------------------------------------------------------------------------------
// /proc

/** VmHWM (peak) and VmRSS of a process, in kB; zeros when it is gone. */
export function memoryOf(pid: number): { peakKb: number; rssKb: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { peakKb: field('VmHWM'), rssKb: field('VmRSS') };
  } catch {
    return { peakKb: 0, rssKb: 0 };
  }
}

/** User + system CPU time of a process in seconds (clock ticks of 1/100 s on Linux). */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ", field 3 (state) is index 0: utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** The local MariaDB/MySQL server process, to report its CPU use (undefined when not local). */
export function findDatabasePid(): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (comm === 'mariadbd' || comm === 'mysqld') return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  return undefined;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** True when the module at `url` is the process's entry script (not merely imported). */
export function isMain(url: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && url === pathToFileURL(entry).href;
}
