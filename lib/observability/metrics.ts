/**
 * `otpMetrics(otp, options)`: Prometheus metrics of the kit through prom-client, fed by the kit's
 * typed events. The metrics are registered on a Registry of their own unless one is passed (pass
 * prom-client's global `register` to add them to the app's default metrics). Label values are
 * provider names, channels, failure kinds, reason codes and limit names only: never a phone
 * number, a code or a request id.
 *
 * prom-client is an optional peer dependency, loaded on the first call (`npm install prom-client`).
 *
 * Counters count what this process did. The retry-queue gauge is read from the database on each
 * scrape, so every instance reports the same (shared) depth: aggregate it with max(), not sum().
 */
import type { Request, RequestHandler, Response } from 'express';
import type { Gauge, Registry, Metric } from 'prom-client';
import { loadPromClient } from './prom-client.js';
import { configError } from '../errors.js';
import { validateMetricsArguments as validate } from './metrics-options.js';
import type { OtpEventMap, OtpEventName, OtpEvents } from '../events.js';
import type { ResolvedOtpConfig } from '../options.js';
import { countQueuedRequests } from '../storage/status-queries.js';
import { isChannel } from '../core/channels.js';
import type { Channel } from '../types.js';
import type { Knex } from 'knex';
import { safeLabel } from './safe-text.js';
import { loggableError } from '../core/safe-error.js';

/** What the kit's types need of a prom-client Registry (an optional peer); pass one and `metrics.registry` has its full type. */
export interface MetricsRegistry {
  readonly contentType: string;
  metrics(): Promise<string>;
  registerMetric(metric: never): void;
  removeSingleMetric(name: string): void;
  getSingleMetricAsString(name: string): Promise<string>;
  getMetricsAsJSON(): Promise<unknown[]>;
}

export interface OtpMetricsOptions<R extends MetricsRegistry = MetricsRegistry> {
  /**
   * Where the metrics are registered. Pass prom-client's `register` (the global default registry)
   * to serve them with the app's other metrics. @default a new Registry
   */
  readonly registry?: R;
  /** Prefix of every metric name. @default 'otp_' */
  readonly prefix?: string;
  /** Buckets of the provider latency histogram, in seconds. @default [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] */
  readonly latencyBuckets?: readonly number[];
}

export interface OtpMetrics<R extends MetricsRegistry = MetricsRegistry> {
  readonly registry: R;
  /** An Express handler serving the registry in the Prometheus text format (mount it behind your own auth). */
  metricsHandler(): RequestHandler;
  /** Stops listening to the kit's events and removes the kit's metrics from the registry. Idempotent. */
  stop(): void;
}

/** What otpMetrics needs of the service returned by createOtp. */
export interface OtpMetricsSource {
  readonly events: OtpEvents;
  readonly knex: Knex;
  readonly config: Pick<ResolvedOtpConfig, 'tables' | 'logger'>;
}

const DEFAULT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const VERIFY_REASONS = new Set(['OTP_INVALID', 'OTP_EXPIRED', 'OTP_NOT_FOUND', 'OTP_TOO_MANY_ATTEMPTS']);
/** requestId → channel of sends this process started, so a `failed` event can be labelled by channel. */
const MAX_TRACKED_REQUESTS = 10_000;

export function otpMetrics<R extends MetricsRegistry = MetricsRegistry>(otp: OtpMetricsSource, options: OtpMetricsOptions<R> = {}): OtpMetrics<R> {
  validate(otp, options);
  const { Counter, Gauge, Histogram, Registry } = loadPromClient();
  // validate() checked that a given registry is one (duck-typed); the default is a new one.
  const registry = (options.registry as unknown as Registry | undefined) ?? new Registry();
  const prefix = options.prefix ?? 'otp_';
  const { knex } = otp;
  const { tables, logger } = otp.config;
  let stopped = false;

  /** Full names of the metrics this call registered, for stop() and for rollback. */
  const added: string[] = [];
  const unregister = (): void => {
    for (const name of added.splice(0)) registry.removeSingleMetric(name);
  };
  /** Registers through prom-client, turning its duplicate-name error into a clear one. */
  function register<M extends Metric>(build: (registers: Registry[]) => M, name: string): M {
    try {
      const metric = build([registry]);
      added.push(`${prefix}${name}`);
      return metric;
    } catch (error) {
      unregister();
      if (error instanceof Error && /already been registered/.test(error.message)) {
        throw configError(`otpMetrics: the registry already has a metric named "${prefix}${name}" (otpMetrics called twice on one registry?); stop() the first one, or pass another \`prefix\` or \`registry\``);
      }
      throw error;
    }
  }

  const requests = register((registers) => new Counter({ name: `${prefix}requests_total`, help: 'OTP sends accepted (request rows committed), by channel.', labelNames: ['channel'], registers }), 'requests_total');
  const sends = register(
    (registers) =>
      new Counter({ name: `${prefix}sends_total`, help: 'Provider send calls by provider, channel and outcome (sent or failed).', labelNames: ['provider', 'channel', 'outcome'], registers }),
    'sends_total',
  );
  const failures = register(
    (registers) =>
      new Counter({ name: `${prefix}provider_failures_total`, help: 'Failed provider send calls by provider, failure kind and whether a retry may help.', labelNames: ['provider', 'kind', 'retryable'], registers }),
    'provider_failures_total',
  );
  const latency = register(
    (registers) =>
      new Histogram({
        name: `${prefix}provider_latency_seconds`,
        help: 'Latency of accepted provider send calls, in seconds.',
        labelNames: ['provider'],
        buckets: [...(options.latencyBuckets ?? DEFAULT_BUCKETS)],
        registers,
      }),
    'provider_latency_seconds',
  );
  const verifications = register(
    (registers) => new Counter({ name: `${prefix}verifications_total`, help: 'Verifications by outcome: verified, or the reason code of a failure.', labelNames: ['outcome'], registers }),
    'verifications_total',
  );
  const limitHits = register((registers) => new Counter({ name: `${prefix}limit_hits_total`, help: 'Requests refused by a limit, by limit name.', labelNames: ['limit'], registers }), 'limit_hits_total');
  const monitoredHits = register((registers) => new Counter({ name: `${prefix}monitored_hits_total`, help: 'Requests a limit or the destination policy in monitor mode would have refused (they went through), by limit name.', labelNames: ['limit'], registers }), 'monitored_hits_total');
  const safeListed = register((registers) => new Counter({ name: `${prefix}safe_list_hits_total`, help: 'Sends and verifies let past the limits by the safe list, by entry kind (number, prefix, ip) and use (send, verify).', labelNames: ['kind', 'use'], registers }), 'safe_list_hits_total');
  const holdsReleased = register((registers) => new Counter({ name: `${prefix}holds_released_total`, help: 'Range holds and number locks lifted, by kind (range, number) and by whom (operator, conversion).', labelNames: ['kind', 'by'], registers }), 'holds_released_total');
  const budgetExhausted = register(
    (registers) => new Counter({ name: `${prefix}budget_exhausted_total`, help: 'Times the daily send budget ran out (once per budget window).', registers }),
    'budget_exhausted_total',
  );
  const sendRefused = register(
    (registers) =>
      new Counter({ name: `${prefix}send_refused_total`, help: 'Sends refused before anything was stored or sent (destination policy, bot challenge), by reason and channel.', labelNames: ['reason', 'channel'], registers }),
    'send_refused_total',
  );
  const numberLocks = register(
    (registers) => new Counter({ name: `${prefix}number_locks_total`, help: 'Numbers locked by wrong codes, by lock (verifyLock or failureBudget).', labelNames: ['lock'], registers }),
    'number_locks_total',
  );
  const retryScheduled = register((registers) => new Counter({ name: `${prefix}retry_scheduled_total`, help: 'Sends whose providers all failed and that were queued for a retry.', registers }), 'retry_scheduled_total');
  const deliveryFailed = register(
    (registers) => new Counter({ name: `${prefix}delivery_failed_total`, help: 'Sends given up without a retry (permanent errors, or retry off).', registers }),
    'delivery_failed_total',
  );
  const unsendable = register((registers) => new Counter({ name: `${prefix}unsendable_total`, help: 'Sends that spent every retry without a delivery.', registers }), 'unsendable_total');
  const expired = register((registers) => new Counter({ name: `${prefix}expired_total`, help: 'Sends whose code expired before a delivery succeeded.', registers }), 'expired_total');
  const purged = register(
    (registers) => new Counter({ name: `${prefix}purged_rows_total`, help: 'Rows deleted by retention purges in this process, by table (requests, failures, limits, webhooks, insights).', labelNames: ['table'], registers }),
    'purged_rows_total',
  );
  const queueDepth: Gauge = register(
    (registers) =>
      new Gauge({
        name: `${prefix}retry_queue_depth`,
        help: 'Request rows waiting for a retry (status queued), read from the database on scrape; shared by every instance.',
        registers,
        async collect() {
          if (stopped) return;
          try {
            queueDepth.set(await countQueuedRequests(knex, tables));
          } catch (error) {
            // A scrape must not fail because the database is briefly away: keep the last value.
            logger.warn({ err: loggableError(error) }, 'otp metrics: the retry queue depth could not be read');
          }
        },
      }),
    'retry_queue_depth',
  );

  // The `failed` event has no channel: remember the channel of sends started in this process.
  const channels = new Map<string, Channel>();
  const remember = (requestId: string, channel: Channel): void => {
    if (channels.size >= MAX_TRACKED_REQUESTS) {
      const oldest = channels.keys().next();
      if (oldest.done !== true) channels.delete(oldest.value);
    }
    channels.set(requestId, channel);
  };
  const channelLabel = (payload: object & { requestId: string }): string => {
    if ('channel' in payload && isChannel(payload.channel)) return payload.channel;
    return channels.get(payload.requestId) ?? 'unknown';
  };

  const unsubscribers: (() => void)[] = [];
  function on<K extends OtpEventName>(event: K, listener: (payload: OtpEventMap[K]) => void): void {
    otp.events.on(event, listener);
    unsubscribers.push(() => otp.events.off(event, listener));
  }

  on('requested', (e) => {
    remember(e.requestId, e.channel);
    requests.inc({ channel: safeLabel(e.channel) });
  });
  on('sent', (e) => {
    channels.delete(e.requestId);
    const provider = safeLabel(e.provider);
    sends.inc({ provider, channel: safeLabel(e.channel), outcome: 'sent' });
    latency.observe({ provider }, Math.max(0, e.latencyMs) / 1000);
  });
  on('failed', (e) => {
    const provider = safeLabel(e.provider);
    sends.inc({ provider, channel: channelLabel(e), outcome: 'failed' });
    failures.inc({ provider, kind: safeLabel(e.kind), retryable: e.retryable ? 'true' : 'false' });
  });
  on('retry-scheduled', () => {
    retryScheduled.inc();
  });
  on('delivery-failed', (e) => {
    channels.delete(e.requestId);
    deliveryFailed.inc();
  });
  on('unsendable', (e) => {
    channels.delete(e.requestId);
    unsendable.inc();
  });
  on('expired', (e) => {
    channels.delete(e.requestId);
    expired.inc();
  });
  on('verified', () => {
    verifications.inc({ outcome: 'verified' });
  });
  on('verify-failed', (e) => {
    verifications.inc({ outcome: VERIFY_REASONS.has(e.reason) ? e.reason : 'other' });
  });
  on('limit-hit', (e) => {
    // Only the limit's name: the key (a number or an IP) never becomes a label.
    if (e.monitored === true) monitoredHits.inc({ limit: safeLabel(e.limit) });
    else limitHits.inc({ limit: safeLabel(e.limit) });
  });
  on('safe-listed', (e) => {
    safeListed.inc({ kind: safeLabel(e.kind), use: safeLabel(e.use) });
  });
  on('hold-released', (e) => {
    holdsReleased.inc({ kind: safeLabel(e.kind), by: safeLabel(e.by) });
  });
  on('budget-exhausted', () => {
    budgetExhausted.inc();
  });
  on('send-refused', (e) => {
    // The masked number, the country and the number type stay out of the labels.
    if (e.monitored === true) monitoredHits.inc({ limit: 'destinations' });
    else sendRefused.inc({ reason: safeLabel(e.reason), channel: safeLabel(e.channel) });
  });
  on('number-locked', (e) => {
    numberLocks.inc({ lock: safeLabel(e.lock) });
  });
  on('purged', (e) => {
    const counts = { requests: e.requests, failures: e.failures, limits: e.limits, webhooks: e.webhooks ?? 0, insights: e.insights ?? 0 };
    for (const [table, rows] of Object.entries(counts)) if (rows > 0) purged.inc({ table }, rows);
  });

  return {
    registry: registry as unknown as R,
    metricsHandler() {
      return function otpMetricsHandler(_req: Request, res: Response) {
        registry.metrics().then(
          (text) => {
            res.setHeader('Content-Type', registry.contentType);
            res.setHeader('Cache-Control', 'no-store');
            res.end(text);
          },
          (error: unknown) => {
            logger.error({ err: loggableError(error) }, 'otp metrics: the registry could not be serialised');
            res.status(500).setHeader('Cache-Control', 'no-store');
            res.type('text/plain').end('metrics unavailable\n');
          },
        );
      };
    },
    stop() {
      if (stopped) return;
      stopped = true;
      for (const off of unsubscribers.splice(0)) off();
      channels.clear();
      unregister();
    },
  };
}
