/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com/): `webhook-signature` is a
 * space-separated list of `v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>`,
 * one per secret (rotation). `verifyWebhook` is the receiver's side, exported for apps.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { OtpError } from '../errors.js';
import { webhookKey } from '../core/webhook-options.js';
import type { WebhookBody } from './payload.js';

/** Receivers refuse a timestamp further than this from their clock (the spec's 5 minutes). */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** The three headers of one delivery attempt. */
export interface WebhookHeaders {
  readonly 'webhook-id': string;
  readonly 'webhook-timestamp': string;
  readonly 'webhook-signature': string;
}

function hmac(key: Buffer, id: string, timestamp: string, body: string | Buffer): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
}

/** The headers for `body`, signed with every key (first key first). `timestamp` is Unix seconds. */
export function signWebhook(keys: readonly Buffer[], id: string, timestamp: number, body: string): WebhookHeaders {
  const ts = String(Math.floor(timestamp));
  return {
    'webhook-id': id,
    'webhook-timestamp': ts,
    'webhook-signature': keys.map((key) => `v1,${hmac(key, id, ts, body).toString('base64')}`).join(' '),
  };
}

export interface VerifyWebhookOptions {
  /** Largest accepted distance between `webhook-timestamp` and now, in seconds. @default 300 */
  readonly toleranceSeconds?: number;
  /** Epoch ms. @default Date.now */
  readonly now?: () => number;
}

/** Headers as Express (`req.headers`), Node or fetch (`Headers`) give them. */
export type HeaderSource = Readonly<Record<string, string | readonly string[] | undefined>> | { get(name: string): string | null };

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return typeof value === 'string' ? value : value?.[0];
}

const refuse = (why: string): OtpError => new OtpError('WEBHOOK_SIGNATURE_INVALID', `webhook refused: ${why}`);

/**
 * Checks a delivery the kit sent and returns its parsed body. `body` must be the raw bytes as
 * received (parse JSON only afterwards: re-serialised JSON need not match the signature). Throws
 * OtpError `WEBHOOK_SIGNATURE_INVALID` (401) for a missing header, a stale timestamp or no matching
 * signature. The body is returned as the kit sends it (`{ type, timestamp, data }`). Use the `webhook-id` header to drop a repeated delivery (at-least-once).
 */
export function verifyWebhook(secret: string | readonly string[], headers: HeaderSource, body: string | Buffer, options: VerifyWebhookOptions = {}): WebhookBody {
  const keys = (typeof secret === 'string' ? [secret] : secret).map((s) => webhookKey(s, 'verifyWebhook secret'));
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (id === undefined || timestamp === undefined || signatures === undefined) throw refuse('the webhook-id, webhook-timestamp and webhook-signature headers are required');
  if (!/^\d{1,12}$/.test(timestamp)) throw refuse('webhook-timestamp is not Unix seconds');
  const now = (options.now ?? Date.now)() / 1000;
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) throw refuse('webhook-timestamp is outside the tolerance');
  const given = signatures
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3), 'base64'));
  const matches = keys.some((key) => {
    const expected = hmac(key, id, timestamp, body);
    return given.some((sig) => sig.length === expected.length && timingSafeEqual(sig, expected));
  });
  if (!matches) throw refuse('no signature matches a configured secret');
  return JSON.parse(typeof body === 'string' ? body : body.toString('utf8')) as WebhookBody;
}
