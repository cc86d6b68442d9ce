/** Small waiting helpers for the retry poller tests: real time, bounded, with a message on timeout. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { digestCode, encryptCode, generateCode } from '../../lib/core/code.js';
import type { Otp, OtpEventMap, OtpEventName, OtpEvents } from '../../lib/index.js';
import { internalsOf } from '../../lib/service/internals.js';
import { insertRequest } from '../../lib/storage/request-queries.js';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every `everyMs` until it returns a truthy value; fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 10): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The next `event` on the kit's emitter (optionally the next one matching `filter`). */
export function nextEvent<K extends OtpEventName>(events: OtpEvents, event: K, filter: (payload: OtpEventMap[K]) => boolean = () => true, timeoutMs = 10_000): Promise<OtpEventMap[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      events.off(event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for the "${event}" event`));
    }, timeoutMs);
    const listener = (payload: OtpEventMap[K]): void => {
      if (!filter(payload)) return;
      clearTimeout(timer);
      events.off(event, listener);
      resolve(payload);
    };
    events.on(event, listener);
  });
}

/**
 * Inserts a request row that is due for the poller now, with the same row shape the send path
 * writes (`insertRequest`): status `sending` under a lease that already ran out, as if the process
 * that accepted the request had died before its first attempt. Returns the request id and the code.
 */
export async function insertDueRequest(
  otp: Otp,
  r: { readonly phone: string; readonly chain: readonly string[]; readonly now: number; readonly expiresAt?: number; readonly channel?: 'sms' | 'call' },
): Promise<{ id: number; requestId: string; code: string }> {
  const ctx = internalsOf(otp);
  const requestId = randomUUID();
  const code = generateCode(ctx.config.codeLength);
  const id = await insertRequest(otp.knex, ctx.config.tables, {
    requestId,
    phone: r.phone,
    channel: r.channel ?? 'sms',
    purpose: 'default',
    chain: r.chain,
    codeDigest: digestCode(ctx.keys.digest[0] as Buffer, requestId, r.phone, code),
    codeCipher: encryptCode(ctx.keys.cipher[0] as Buffer, requestId, code),
    messageTemplate: ctx.config.messageTemplate,
    leaseOwner: 'test-seed',
    leaseToken: randomUUID(),
    leaseExpiresAt: r.now - 1,
    clientIp: null,
    expiresAt: r.expiresAt ?? r.now + ctx.config.ttlSeconds * 1000,
    now: r.now,
  });
  return { id, requestId, code };
}

export interface WorkerHandle {
  readonly name: string;
  readonly child: ChildProcess;
  /** The kit's instance id in that process (what it writes to lease_owner). */
  readonly instanceId: string;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const WORKER_SCRIPT = fileURLToPath(new URL('./worker-process.ts', import.meta.url));

/** Starts test/helpers/worker-process.ts with `env` and waits for its `ready` line (bounded). */
export async function spawnWorker(name: string, env: Record<string, string>, timeoutMs = 20_000): Promise<WorkerHandle> {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_SCRIPT], {
    env: { ...process.env, ...env, WORKER_NAME: name },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const instanceId = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`worker ${name} not ready after ${timeoutMs} ms: ${stderr.join('')}`));
    }, timeoutMs);
    createInterface({ input: child.stdout }).on('line', (line) => {
      stdout.push(line);
      const ready = /^\{"ready":"([^"]+)"\}$/.exec(line)?.[1];
      if (ready !== undefined) {
        clearTimeout(timer);
        resolve(ready);
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`worker ${name} exited (${String(code ?? signal)}) before it was ready: ${stderr.join('')}`));
    });
  });
  return { name, child, instanceId, stdout, stderr, exited };
}

/** SIGTERM, then the exit (SIGKILL after `timeoutMs` so a test never hangs on a child). */
export async function stopWorker(w: WorkerHandle, timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return w.exited;
  w.child.kill('SIGTERM');
  const timer = setTimeout(() => w.child.kill('SIGKILL'), timeoutMs);
  const result = await w.exited;
  clearTimeout(timer);
  return result;
}
