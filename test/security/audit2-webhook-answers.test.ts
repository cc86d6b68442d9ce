/**
 * Issue 23.2: no webhook receiver can drive the app's memory with its answer. The poller asks for
 * an uncompressed answer (`Accept-Encoding: identity`), reads at most a few kB of it and drops the
 * rest: a gzip bomb (256 MB of zeros in ~250 kB) and an endless body leave memory flat, end the
 * connection at once, and the delivery outcome still follows the status code.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createGzip } from 'node:zlib';
import { after, before, it } from 'node:test';
import type { Otp } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';
import { newWebhookSecret } from '../helpers/webhook-receiver.js';
import { waitFor } from '../helpers/worker-utils.js';

const BOMB_MB = 256;

/** gzip of BOMB_MB MB of zeros, built in 1 MB steps (the test never holds the inflated body). */
async function gzipBomb(): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gzip.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((resolve) => gzip.on('end', resolve));
  const mb = Buffer.alloc(1 << 20);
  for (let i = 0; i < BOMB_MB; i += 1) {
    if (!gzip.write(mb)) await new Promise((resolve) => gzip.once('drain', resolve));
  }
  gzip.end();
  await done;
  return Buffer.concat(out);
}

type Answer = 'bomb-200' | 'bomb-500' | 'endless-200';

interface Receiver {
  readonly url: string;
  answer: Answer;
  /** Per answer: bytes written before the kit hung up, whether it did, what it asked for. */
  readonly seen: Array<{ answer: Answer; written: number; closed: boolean; acceptEncoding: string }>;
  close(): Promise<void>;
}

async function startReceiver(bomb: Buffer): Promise<Receiver> {
  const sockets = new Set<Socket>();
  const receiver = { answer: 'bomb-200' as Answer, seen: [] as Receiver['seen'] };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const entry = { answer: receiver.answer, written: 0, closed: false, acceptEncoding: req.headers['accept-encoding'] ?? '' };
      receiver.seen.push(entry);
      res.on('close', () => {
        entry.closed = true;
      });
      const status = receiver.answer === 'bomb-500' ? 500 : 200;
      if (receiver.answer === 'endless-200') {
        res.writeHead(status, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const pump = (): void => {
          while (!res.destroyed && entry.written < 2 * 1024 ** 3) {
            entry.written += chunk.length;
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
        };
        pump();
        return;
      }
      // A gzip answer whatever the kit asked for.
      res.writeHead(status, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(bomb.length) });
      entry.written = bomb.length;
      res.end(bomb);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}/hooks`,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

forEachDatabase('webhook answers cannot drive memory', (db) => {
  let receiver: Receiver;
  let otp: Otp;

  before(async () => {
    receiver = await startReceiver(await gzipBomb());
    otp = (await createTestKit(db(), { clock: Date.now, webhooks: { url: receiver.url, secret: newWebhookSecret(), timeoutMs: 5000, baseDelayMs: 60_000 } })).otp;
  });
  after(async () => {
    await receiver.close();
  });

  /** Delivers the next event against `answer`; answers the row and the peak memory growth in MB. */
  async function deliverAgainst(answer: Answer, phone: string): Promise<{ row: Record<string, unknown>; peakMb: number; ms: number }> {
    receiver.answer = answer;
    const sent = await otp.sendSms(phone);
    global.gc?.();
    const base = process.memoryUsage();
    let peak = 0;
    const sample = setInterval(() => {
      const m = process.memoryUsage();
      peak = Math.max(peak, m.arrayBuffers - base.arrayBuffers, m.rss - base.rss);
    }, 2);
    const started = Date.now();
    const poller = otp.startWebhookPoller({ pollInterval: 20 });
    try {
      const row = await waitFor(
        `the ${answer} delivery`,
        async () => {
          const r = (await db().knex('otp_webhooks').where({ request_id: sent.requestId }).first()) as Record<string, unknown> | undefined;
          return r !== undefined && Number(r.attempts) >= 1 ? r : undefined;
        },
        20_000,
      );
      return { row, peakMb: peak / 1024 ** 2, ms: Date.now() - started };
    } finally {
      await poller.stop();
      clearInterval(sample);
    }
  }

  it('a 2xx gzip bomb: delivered, memory stays flat, identity asked for', { timeout: 60_000 }, async () => {
    const { row, peakMb } = await deliverAgainst('bomb-200', '+359871230601');
    assert.equal(row.status, 'delivered', String(row.last_error));
    assert.ok(peakMb < 64, `memory grew by ${peakMb.toFixed(0)} MB`);
    assert.equal(receiver.seen.at(-1)?.acceptEncoding, 'identity');
  });

  it('a 5xx gzip bomb: retried later as any 5xx, memory stays flat', { timeout: 60_000 }, async () => {
    const { row, peakMb } = await deliverAgainst('bomb-500', '+359871230602');
    assert.deepEqual([row.status, row.last_error], ['pending', 'the receiver answered HTTP 500']);
    assert.ok(peakMb < 64, `memory grew by ${peakMb.toFixed(0)} MB`);
  });

  it('an endless 2xx body: delivered at once, the kit hangs up after a few kB', { timeout: 60_000 }, async () => {
    const { row, peakMb, ms } = await deliverAgainst('endless-200', '+359871230603');
    assert.equal(row.status, 'delivered', String(row.last_error));
    assert.ok(ms < 4000, `took ${ms} ms (the timeout is 5000 ms)`);
    const seen = receiver.seen.at(-1);
    await waitFor('the connection to close', () => seen?.closed === true);
    // Socket buffers on loopback take a few MB before the kit's hang-up reaches the receiver.
    assert.ok((seen?.written ?? 0) < 64 * 1024 ** 2, `the receiver wrote ${seen?.written ?? 0} bytes`);
    assert.ok(peakMb < 64, `memory grew by ${peakMb.toFixed(0)} MB`);
  });
});
