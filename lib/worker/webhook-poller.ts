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
import { configError, isOtpError } from '../errors.js';
import { claimDueWebhooks, releaseWebhooks, type OutboxRow } from '../storage/outbox-queries.js';
import type { Logger } from '../types.js';
import { deliverWebhook, type WebhookDeliveryDeps } from '../webhooks/deliver.js';

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

/** Longest wait between polls after repeated claim failures (database down). */
const MAX_ERROR_BACKOFF_MS = 30_000;

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
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;
  let backlog = false;
  let failures = 0;
  const inFlight = new Set<Promise<void>>();

  async function attempt(row: OutboxRow, leaseToken: string): Promise<void> {
    try {
      const result = await deliverWebhook(delivery, row, leaseToken);
      if (result.status === 'failed') logger.error({ webhookId: row.webhookId, type: row.eventType, attempts: row.attempts + 1, error: result.error }, 'otp webhook: delivery failed for good');
      else if (result.status === 'pending') logger.warn({ webhookId: row.webhookId, type: row.eventType, error: result.error }, 'otp webhook: delivery failed; retrying later');
    } catch (error) {
      logger.error({ webhookId: row.webhookId, err: loggableError(error) }, 'otp webhook: the result could not be written; the event is retried when its lease runs out');
    }
  }

  function start(row: OutboxRow, leaseToken: string): void {
    const run = attempt(row, leaseToken).catch(() => undefined);
    inFlight.add(run);
    void run.then(() => {
      inFlight.delete(run);
      if (backlog) wake();
    });
  }

  async function poll(): Promise<void> {
    const limit = opts.concurrency - inFlight.size;
    if (limit <= 0) return;
    try {
      const claim = await claimDueWebhooks(delivery.knex, delivery.tables, { now: delivery.clock(), leaseMs, limit, owner: deps.instanceId });
      failures = 0;
      backlog = claim.rows.length === limit;
      if (stopping) {
        await releaseWebhooks(delivery.knex, delivery.tables, claim.rows.map((r) => r.id), claim.leaseToken, delivery.clock()).catch(() => undefined);
        return;
      }
      for (const row of claim.rows) start(row, claim.leaseToken);
    } catch (error) {
      backlog = false;
      failures += 1;
      if (isOtpError(error) && error.code === 'CONFIG_INVALID') {
        stopping = true;
        logger.error({ err: error.message }, 'otp webhook poller: stopped');
        return;
      }
      logger.error({ err: loggableError(error), failures }, 'otp webhook poller: claiming due events failed; trying again');
    }
  }

  function schedule(delayMs: number): void {
    if (stopping || timer !== undefined || polling !== undefined) return;
    timer = setTimeout(tick, delayMs);
    timer.unref();
  }

  function tick(): void {
    timer = undefined;
    if (stopping) return;
    polling = poll()
      .catch(() => undefined)
      .then(() => {
        polling = undefined;
        if (failures > 0) schedule(Math.min(MAX_ERROR_BACKOFF_MS, opts.pollInterval * 2 ** Math.min(failures - 1, 10)));
        else schedule(backlog && inFlight.size < opts.concurrency ? 0 : opts.pollInterval);
      });
  }

  function wake(): void {
    if (stopping || polling !== undefined) return;
    clearTimeout(timer);
    timer = undefined;
    schedule(0);
  }

  schedule(0);

  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      clearTimeout(timer);
      timer = undefined;
      await polling;
      await Promise.all(inFlight);
    })();
    return stopped;
  };
  return { stop, [Symbol.asyncDispose]: stop };
}
