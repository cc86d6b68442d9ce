/**
 * One delivery attempt of one leased outbox row: POST the stored body with fresh Standard Webhooks
 * headers (same `webhook-id`, new `webhook-timestamp`), under a timeout, then write the result
 * fenced by the lease: `delivered` on a 2xx, else a retry with backoff, and `failed` for good after
 * `maxAttempts` (or at once on 410 Gone). Redirects are not followed (the spec counts a 3xx as a
 * failure). Of the answer only the status counts: an uncompressed body is asked for and at most
 * ANSWER_BYTES of it read (issue 23.2).
 */
import { randomInt } from 'node:crypto';
import type { Knex } from 'knex';
import { retryDelayMs } from '../core/backoff.js';
import type { ResolvedWebhooks } from '../core/webhook-options.js';
import { coerceError } from '../errors.js';
import type { OtpTableNames } from '../storage/migrations.js';
import { finishWebhook, type OutboxRow, type OutboxStatus } from '../storage/outbox-queries.js';
import { signWebhook } from './sign.js';

export interface WebhookDeliveryDeps {
  readonly webhooks: ResolvedWebhooks;
  readonly knex: Knex;
  readonly tables: OtpTableNames;
  readonly clock: () => number;
  readonly userAgent?: string;
}

export interface WebhookAttempt {
  /** The row's state after the attempt, or `lost-lease` when another poller owns it now. */
  readonly status: OutboxStatus | 'lost-lease';
  readonly httpStatus: number | undefined;
  readonly error: string | null;
}

/** The most of a receiver's answer the poller reads, in bytes (issue 23.2). */
export const ANSWER_BYTES = 4096;

/**
 * Reads at most `limit` bytes of an answer's body, then cancels the rest (which closes the
 * connection). A receiver that sends gzip anyway is inflated a chunk at a time, as far as read,
 * never whole; an endless body is cut off. Never throws.
 */
export async function drainAnswer(body: ReadableStream<Uint8Array> | null, limit: number): Promise<void> {
  if (body === null) return;
  const reader = body.getReader();
  let read = 0;
  try {
    while (read <= limit) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // A reset or timeout while reading an answer no one needs.
    await reader.cancel().catch(() => undefined);
  } finally {
    reader.releaseLock();
  }
}

/** POSTs the row once; answers the HTTP status, or the reason there was none. */
async function post(deps: WebhookDeliveryDeps, row: OutboxRow): Promise<{ httpStatus?: number; error?: string }> {
  const { webhooks } = deps;
  const headers = signWebhook(webhooks.keys, row.webhookId, deps.clock() / 1000, row.body);
  try {
    const res = await fetch(webhooks.url, {
      method: 'POST',
      // An uncompressed answer: nothing to inflate (issue 23.2).
      headers: { 'content-type': 'application/json', 'accept-encoding': 'identity', 'user-agent': deps.userAgent ?? 'express-otp-kit-webhooks', ...headers },
      body: row.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(webhooks.timeoutMs),
    });
    // Only the status counts. A short answer is read (the connection can be reused); past
    // ANSWER_BYTES the rest is dropped with the connection, so no answer can drive memory.
    await drainAnswer(res.body, ANSWER_BYTES);
    return { httpStatus: res.status };
  } catch (error) {
    const e = coerceError(error);
    const cause = (e.cause as { code?: unknown } | undefined)?.code;
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return { error: `timed out after ${webhooks.timeoutMs} ms` };
    return { error: `request failed (${typeof cause === 'string' ? cause : e.message.slice(0, 100)})` };
  }
}

/** Float in [0, 1) from the CSPRNG, for jitter. */
const jitterRandom = (): number => randomInt(1_000_000) / 1_000_000;

export async function deliverWebhook(deps: WebhookDeliveryDeps, row: OutboxRow, leaseToken: string): Promise<WebhookAttempt> {
  const { webhooks } = deps;
  const { httpStatus, error } = await post(deps, row);
  const attempts = row.attempts + 1;
  const now = deps.clock();
  const ok = httpStatus !== undefined && httpStatus >= 200 && httpStatus < 300;
  const lastError = ok ? null : (error ?? `the receiver answered HTTP ${httpStatus ?? '?'}`);
  let status: OutboxStatus;
  let nextAttemptAt: number | null = null;
  if (ok) status = 'delivered';
  else if (httpStatus === 410 || attempts >= webhooks.maxAttempts) status = 'failed';
  else {
    status = 'pending';
    nextAttemptAt = now + retryDelayMs(attempts, { baseMs: webhooks.baseDelayMs, maxMs: webhooks.maxDelayMs, jitter: 0.5 }, jitterRandom);
  }
  const written = await finishWebhook(deps.knex, deps.tables, row.id, leaseToken, { status, attempts, nextAttemptAt, lastError, now });
  return { status: written ? status : 'lost-lease', httpStatus, error: lastError };
}
