/**
 * A loopback "SMS gateway" for the multi-process and crash tests of the retry poller. Worker
 * processes deliver to it through the Recorder provider (test/helpers/worker-process.ts); it
 * records every call with the worker that made it, answers ok / fail / never as the test decides,
 * and notices when a second call for the same request arrives while one is still in flight.
 */
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type RecorderDecision = 'ok' | 'fail' | 'hang';

export interface RecordedCall {
  readonly index: number;
  readonly requestId: string;
  readonly worker: string;
  readonly phone: string;
  readonly code: string;
  readonly text: string;
  /** Date.now() when the call arrived. */
  readonly startedAt: number;
  decision: RecorderDecision;
  /** Set when the answer was written or the connection went away. */
  endedAt?: number;
  /** True once a 200 was written: the message counts as delivered. */
  accepted: boolean;
}

export interface RecorderOptions {
  /** What to answer each call. @default always 'ok' */
  readonly decide?: (call: RecordedCall) => RecorderDecision;
  /** Delay before answering, in ms. @default 0 */
  readonly delayMs?: (call: RecordedCall) => number;
}

export interface DeliveryRecorder {
  readonly url: string;
  readonly calls: readonly RecordedCall[];
  /** Calls that arrived while another call for the same request was still unanswered. */
  readonly overlaps: readonly { requestId: string; first: string; second: string }[];
  /** Unanswered calls right now (optionally of one worker). */
  inFlight(worker?: string): RecordedCall[];
  callsFor(requestId: string): RecordedCall[];
  close(): Promise<void>;
}

export interface RecorderPayload {
  readonly requestId: string;
  readonly worker: string;
  readonly phone: string;
  readonly code: string;
  readonly text: string;
}

export async function startDeliveryRecorder(options: RecorderOptions = {}): Promise<DeliveryRecorder> {
  const calls: RecordedCall[] = [];
  const overlaps: { requestId: string; first: string; second: string }[] = [];
  const open = new Map<string, RecordedCall>();
  const byRequest = new Map<string, RecordedCall[]>();
  const timers = new Set<NodeJS.Timeout>();
  const hanging = new Set<ServerResponse>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: RecorderPayload;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RecorderPayload;
      } catch {
        res.writeHead(400).end('bad json');
        return;
      }
      const call: RecordedCall = { index: calls.length, ...body, startedAt: Date.now(), decision: 'ok', accepted: false };
      calls.push(call);
      byRequest.set(call.requestId, [...(byRequest.get(call.requestId) ?? []), call]);
      const already = open.get(call.requestId);
      if (already !== undefined) overlaps.push({ requestId: call.requestId, first: already.worker, second: call.worker });
      open.set(call.requestId, call);
      res.on('close', () => {
        call.endedAt = Date.now();
        hanging.delete(res);
        if (open.get(call.requestId) === call) open.delete(call.requestId);
      });
      call.decision = options.decide?.(call) ?? 'ok';
      if (call.decision === 'hang') {
        hanging.add(res);
        return;
      }
      const answer = (): void => {
        if (res.destroyed) return;
        if (call.decision === 'ok') {
          call.accepted = true;
          res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ ref: `rec-${call.index}` }));
        } else {
          res.writeHead(503, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: 'try later' }));
        }
      };
      const delay = options.delayMs?.(call) ?? 0;
      if (delay <= 0) {
        answer();
        return;
      }
      const timer = setTimeout(() => {
        timers.delete(timer);
        answer();
      }, delay);
      timers.add(timer);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/send`,
    calls,
    overlaps,
    inFlight: (worker) => [...open.values()].filter((c) => worker === undefined || c.worker === worker),
    callsFor: (requestId) => byRequest.get(requestId) ?? [],
    async close() {
      for (const timer of timers) clearTimeout(timer);
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
    },
  };
}
