/**
 * A loopback webhook receiver for tests: records every POST (headers and raw body), answers what
 * `decide` says (a status, or 'hang' for no answer), and counts deliveries of one webhook-id that
 * overlap in time. Includes an independent Standard Webhooks verifier written from the spec
 * (https://www.standardwebhooks.com/), not the kit's signer.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  readonly index: number;
  readonly id: string;
  readonly timestamp: string;
  readonly signature: string;
  readonly body: string;
  readonly status: number | 'hang';
  readonly receivedAt: number;
}

export interface WebhookReceiver {
  readonly url: string;
  readonly received: ReceivedWebhook[];
  /** Ids that had two deliveries in flight at once. */
  readonly overlaps: string[];
  /** Deliveries of one id answered 2xx. */
  acceptedFor(id: string): ReceivedWebhook[];
  close(): Promise<void>;
}

export type Decide = (delivery: { id: string; body: string; index: number; earlierOfId: number }) => number | 'hang';

export async function startWebhookReceiver(decide: Decide = () => 200, delayMs = 0): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const overlaps: string[] = [];
  const open = new Map<string, number>();
  const hanging = new Set<ServerResponse>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const one = (name: string): string => String(req.headers[name] ?? '');
      const id = one('webhook-id');
      const body = Buffer.concat(chunks).toString('utf8');
      const earlierOfId = received.filter((r) => r.id === id).length;
      const status = decide({ id, body, index: received.length, earlierOfId });
      received.push({ index: received.length, id, timestamp: one('webhook-timestamp'), signature: one('webhook-signature'), body, status, receivedAt: Date.now() });
      if ((open.get(id) ?? 0) > 0) overlaps.push(id);
      open.set(id, (open.get(id) ?? 0) + 1);
      const done = (): void => void open.set(id, (open.get(id) ?? 1) - 1);
      if (status === 'hang') {
        hanging.add(res);
        res.on('close', done);
        return;
      }
      setTimeout(() => {
        done();
        res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    overlaps,
    acceptedFor: (id) => received.filter((r) => r.id === id && typeof r.status === 'number' && r.status >= 200 && r.status < 300),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The spec's verification, done independently: strip `whsec_`, base64-decode the key, HMAC-SHA256
 * over `${id}.${timestamp}.${body}`, base64, compare in constant time with each `v1,` entry.
 */
export function specVerify(secret: string, delivery: Pick<ReceivedWebhook, 'id' | 'timestamp' | 'signature' | 'body'>, nowSeconds = Date.now() / 1000): boolean {
  if (!secret.startsWith('whsec_')) return false;
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  if (Math.abs(nowSeconds - Number(delivery.timestamp)) > 300) return false;
  const expected = createHmac('sha256', key).update(`${delivery.id}.${delivery.timestamp}.${delivery.body}`).digest();
  return delivery.signature.split(' ').some((entry) => {
    const [version, sig] = entry.split(',');
    if (version !== 'v1' || sig === undefined) return false;
    const given = Buffer.from(sig, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/** A fresh `whsec_` secret of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}
