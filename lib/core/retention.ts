/**
 * How long the kit keeps what it stores (GDPR art. 5(1)(e): no longer than needed): the
 * `retention` option of createOtp, its defaults, its joi schema, and the cut-off times a purge
 * deletes below. Pure: the clock is an argument.
 */
import Joi from 'joi';

export interface RetentionOptions {
  /**
   * Days a request row is kept once it stopped mattering: after its code expired and every token
   * it issued could no longer be spent (expiry + `tokenTtlSeconds`). At least 1 day, so the
   * pumping breaker's hour of history is always there. @default 30
   */
  readonly requestDays?: number;
  /**
   * Days a failure-budget row without a lock is kept after its last wrong code (a correct code
   * deletes it at once; a locked row goes when its lock ends). @default 30
   */
  readonly failureDays?: number;
  /**
   * Days a webhook outbox row is kept once it ended (delivered, or failed for good), from its last
   * attempt. A pending event is kept until it ends, whatever its age. @default 7
   */
  readonly webhookDays?: number;
  /**
   * Which deliveries keep the redacted provider request/response (`provider_request`,
   * `provider_response`): `'failures'` only those that succeeded after a failed or retried attempt
   * (where they help to debug a provider), `'always'` every delivery. @default 'failures'
   */
  readonly providerPayloads?: 'failures' | 'always';
  /** Days the insight rollups (`otp_insights`: counts without personal data) are kept. @default 400 */
  readonly insightsDays?: number;
  /** Rows deleted per statement; each batch is its own short transaction. @default 5000 */
  readonly batchSize?: number;
  /** Shortest pause between two batches in ms. @default 10 */
  readonly pauseMs?: number;
  /**
   * Share of a purge's time spent in its statements (0-1]: after a batch that took `d` ms it waits
   * `d × (1 − busyShare) / busyShare` (at least `pauseMs`), so a large backlog leaves the database
   * to live traffic; 1 purges flat out. @default 0.1
   */
  readonly busyShare?: number;
}

export interface ResolvedRetention {
  /** False with `retention: false`: `purge()` deletes nothing. */
  readonly enabled: boolean;
  readonly requestDays: number;
  readonly failureDays: number;
  readonly webhookDays: number;
  readonly providerPayloads: 'failures' | 'always';
  readonly insightsDays: number;
  readonly batchSize: number;
  readonly pauseMs: number;
  readonly busyShare: number;
}

export const RETENTION_DEFAULTS: Omit<ResolvedRetention, 'enabled'> = {
  requestDays: 30,
  failureDays: 30,
  webhookDays: 7,
  providerPayloads: 'failures',
  insightsDays: 400,
  batchSize: 5000,
  pauseMs: 10,
  busyShare: 0.1,
};

export const retentionOptionsSchema = Joi.alternatives(
  Joi.valid(false),
  Joi.object({
    requestDays: Joi.number().integer().min(1).max(3650),
    failureDays: Joi.number().integer().min(1).max(3650),
    webhookDays: Joi.number().integer().min(1).max(3650),
    providerPayloads: Joi.valid('failures', 'always'),
    insightsDays: Joi.number().integer().min(1).max(3650),
    batchSize: Joi.number().integer().min(1).max(50_000),
    pauseMs: Joi.number().integer().min(0).max(60_000),
    busyShare: Joi.number().greater(0).max(1),
  }),
);

export function resolveRetention(options: RetentionOptions | false | undefined): ResolvedRetention {
  if (options === false) return { ...RETENTION_DEFAULTS, enabled: false };
  return {
    enabled: true,
    requestDays: options?.requestDays ?? RETENTION_DEFAULTS.requestDays,
    failureDays: options?.failureDays ?? RETENTION_DEFAULTS.failureDays,
    webhookDays: options?.webhookDays ?? RETENTION_DEFAULTS.webhookDays,
    providerPayloads: options?.providerPayloads ?? RETENTION_DEFAULTS.providerPayloads,
    insightsDays: options?.insightsDays ?? RETENTION_DEFAULTS.insightsDays,
    batchSize: options?.batchSize ?? RETENTION_DEFAULTS.batchSize,
    pauseMs: options?.pauseMs ?? RETENTION_DEFAULTS.pauseMs,
    busyShare: options?.busyShare ?? RETENTION_DEFAULTS.busyShare,
  };
}

const DAY_MS = 86_400_000;

export interface PurgeCutoffs {
  /** Request rows whose `expires_at` is below this go (kit clock). */
  readonly requestsExpiredBefore: number;
  /** Unlocked failure rows whose `updated_at` is below this go (kit clock). */
  readonly failuresIdleBefore: number;
  /** Locked failure rows whose `locked_until` is at or below this go: the lock has lapsed (kit clock). */
  readonly locksEndedBy: number;
  /** Ended (delivered or failed) outbox rows whose `updated_at` is below this go (kit clock). */
  readonly webhooksEndedBefore: number;
  /** Insight rollups of hours (and days) that began before this go (kit clock). */
  readonly insightsBefore: number;
}

/** The cut-offs of a purge at `now` (kit clock): a row below them can no longer change any answer. */
export function purgeCutoffs(retention: ResolvedRetention, now: number, tokenTtlSeconds: number): PurgeCutoffs {
  return {
    requestsExpiredBefore: now - tokenTtlSeconds * 1000 - retention.requestDays * DAY_MS,
    failuresIdleBefore: now - retention.failureDays * DAY_MS,
    locksEndedBy: now,
    webhooksEndedBefore: now - retention.webhookDays * DAY_MS,
    insightsBefore: now - retention.insightsDays * DAY_MS,
  };
}

/** The pause after a batch that took `batchMs`: the purge stays within its share of the time. */
export function pauseAfter(retention: Pick<ResolvedRetention, 'pauseMs' | 'busyShare'>, batchMs: number): number {
  return Math.max(retention.pauseMs, Math.round((batchMs * (1 - retention.busyShare)) / retention.busyShare));
}

/** Whether a delivery that succeeded keeps the provider's redacted request and response. */
export function keepsProviderPayloads(retention: Pick<ResolvedRetention, 'providerPayloads'>, attempt: number, earlierFailures: number): boolean {
  return retention.providerPayloads === 'always' || attempt > 1 || earlierFailures > 0;
}
