/**
 * The bundled webhook poller: `otp.startWebhookPoller(options)`. Every `pollInterval` it claims due
 * outbox rows under a lease (lib/storage/outbox-queries.ts) and delivers each once
 * (lib/webhooks/deliver.ts), at most `concurrency` at a time. The lease outlives a delivery's
 * timeout, so two pollers never deliver one event at the same time; a poller that dies leaves its
 * events due again when their leases run out (at-least-once, same `webhook-id`).
 *
 * Any number of processes may run one on the same database. Timers are unref'd and chained.
 */
import Joi from 'joi';
import { loggableError } from '../core/safe-error.js';
import { configError } from '../errors.js';
import { claimDueWebhooks, releaseWebhooks, type OutboxRow } from '../storage/outbox-queries.js';
import type { Logger } from '../types.js';
import { deliverWebhook, type WebhookDeliveryDeps } from '../webhooks/deliver.js';
import { startPollLoop } from './poll-loop.js';

export interface WebhookPollerDeps {
  readonly delivery: WebhookDeliveryDeps;
  readonly instanceId: string;
  readonly logger: Logger;
}

export interface WebhookPollerOptions {
  /** How often to look for due events, in ms (at once again while a full batch came back). @default 1000 */
  readonly pollInterval?: number;
  /** Deliveries in flight at once in this process. @default 10 */
  readonly concurrency?: number;
  /** Lease of a claimed event in ms; never shorter than the webhook timeout + 5 s. @default timeoutMs + 5000 */
  readonly leaseMs?: number;
}

export interface WebhookPoller {
  /** Finishes in-flight deliveries, releases claimed events it has not started, stops. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const schema = Joi.object<WebhookPollerOptions>({
  pollInterval: Joi.number().integer().min(10).max(600_000),
  concurrency: Joi.number().integer().min(1).max(200),
  leaseMs: Joi.number().integer().min(1000).max(600_000),
});

function resolve(options: WebhookPollerOptions): Required<Omit<WebhookPollerOptions, 'leaseMs'>> & { leaseMs?: number } {
  const { error } = schema.validate(options, { convert: false });
  if (error !== undefined) {
    const detail = error.details[0];
    throw configError(`startWebhookPoller: option \`${detail?.path.join('.') ?? ''}\` ${(detail?.message ?? error.message).replace(/^"[^"]*" /, '')}; known options: pollInterval, concurrency, leaseMs`);
  }
  return { pollInterval: 1000, concurrency: 10, ...options };
}

export function startWebhookPoller(deps: WebhookPollerDeps, options: WebhookPollerOptions = {}): WebhookPoller {
  const opts = resolve(options);
  const { delivery, logger } = deps;
  const leaseMs = Math.max(opts.leaseMs ?? 0, delivery.webhooks.timeoutMs + 5_000);
  interface Claimed {
    readonly row: OutboxRow;
    readonly leaseToken: string;
  }

  async function attempt(row: OutboxRow, leaseToken: string): Promise<void> {
    try {
      const result = await deliverWebhook(delivery, row, leaseToken);
      if (result.status === 'failed') logger.error({ webhookId: row.webhookId, type: row.eventType, attempts: row.attempts + 1, error: result.error }, 'otp webhook: delivery failed for good');
      else if (result.status === 'pending') logger.warn({ webhookId: row.webhookId, type: row.eventType, error: result.error }, 'otp webhook: delivery failed; retrying later');
    } catch (error) {
      logger.error({ webhookId: row.webhookId, err: loggableError(error) }, 'otp webhook: the result could not be written; the event is retried when its lease runs out');
    }
  }

  async function claim(limit: number): Promise<Claimed[]> {
    const claimed = await claimDueWebhooks(delivery.knex, delivery.tables, { now: delivery.clock(), leaseMs, limit, owner: deps.instanceId });
    return claimed.rows.map((row) => ({ row, leaseToken: claimed.leaseToken }));
  }

  async function release(items: readonly Claimed[]): Promise<void> {
    const first = items[0];
    if (first !== undefined) await releaseWebhooks(delivery.knex, delivery.tables, items.map((c) => c.row.id), first.leaseToken, delivery.clock());
  }

  const loop = startPollLoop<Claimed>({ name: 'otp webhook poller', pollInterval: opts.pollInterval, concurrency: opts.concurrency, logger, claim, release, run: (c) => attempt(c.row, c.leaseToken) });
  return { stop: loop.stop, [Symbol.asyncDispose]: loop.stop };
}
