/**
 * The data lifecycle: `otp.purge()` deletes what the `retention` option no longer keeps, and
 * `otp.forget(phone)` erases everything the kit holds about one number (a data-subject request,
 * GDPR art. 17). Both delete in bounded batches (lib/storage/purge-queries.ts) while traffic goes
 * on, and are safe to run from any number of instances at once.
 */
import { setTimeout as wait } from 'node:timers/promises';
import { maskPhone } from '../core/phone.js';
import { outboxSubject, outboxSubjectKeys } from '../core/outbox-subject.js';
import { pauseAfter, purgeCutoffs } from '../core/retention.js';
import { configError } from '../errors.js';
import { counterStoresOfNumber } from '../limits/keys.js';
import {
  eraseCounters,
  eraseFailures,
  eraseWebhooksOfNumber,
  pendingOfNumber,
  purgeCounterBatch,
  purgeIdleFailureBatch,
  purgeLapsedLockBatch,
  purgeRequestBatch,
  purgeWebhookBatch,
} from '../storage/purge-queries.js';
import type { PhoneInput } from '../types.js';
import type { OtpDeps } from './deps.js';
import { parsePhone } from './inputs.js';
import { purgeRollups } from '../storage/insights-queries.js';
import { endAndErase, sweepEnds } from './request-ends.js';

export interface PurgeOptions {
  /** Stop after this many batches (a run bounded in time, e.g. from a cron job); the rest waits for the next run. @default no bound */
  readonly maxBatches?: number;
  /** Stops between two batches once aborted (the poller's `stop()` uses it). */
  readonly signal?: AbortSignal;
}

export interface PurgeResult {
  /** Request rows deleted (`otp_requests`). */
  readonly requests: number;
  /** Failure-budget rows deleted (`otp_failures`): lapsed locks and idle counts. */
  readonly failures: number;
  /** Counter rows deleted (`otp_limits`) whose window had ended. */
  readonly limits: number;
  /** Webhook outbox rows deleted (`otp_webhooks`): delivered or failed, past `retention.webhookDays`. */
  readonly webhooks: number;
  /** Insight rollup rows (`otp_insights`) past `retention.insightsDays`. */
  readonly insights: number;
  /** False when `maxBatches` or the signal stopped the run before everything due was deleted. */
  readonly complete: boolean;
}

export interface ForgetResult {
  /** Request rows erased. */
  readonly requests: number;
  /** Of those, deliveries that were still pending (queued or being sent): cancelled, never sent again. */
  readonly cancelled: number;
  /**
   * Of the cancelled, rows under a live lease when `forget` ran: an attempt that had already reached
   * its provider may still have been delivered; none is started afterwards.
   */
  readonly leased: number;
  /** The failure-budget row (0 or 1). */
  readonly failures: number;
  /** Counter rows keyed by the number, of every limit (`sc`, `sw`, `sn`, `vl`, `vv`…: lib/limits/keys.ts). */
  readonly limits: number;
  /** The number's webhook outbox rows (events about its requests and locks). */
  readonly webhooks: number;
}

type Table = 'requests' | 'failures' | 'limits' | 'webhooks' | 'insights';

function checkPurgeOptions(options: PurgeOptions): void {
  if (typeof options !== 'object' || options === null) throw configError('purge: options must be an object, e.g. otp.purge({ maxBatches: 100 })');
  const { maxBatches } = options;
  if (maxBatches !== undefined && (!Number.isInteger(maxBatches) || maxBatches < 1)) {
    throw configError(`purge: option \`maxBatches\` must be a whole number of at least 1 (got ${JSON.stringify(maxBatches)})`);
  }
}

export async function purge(deps: OtpDeps, options: PurgeOptions = {}): Promise<PurgeResult> {
  checkPurgeOptions(options);
  const { config, knex, events } = deps;
  const { retention, tables: t } = config;
  const counts: Record<Table, number> = { requests: 0, failures: 0, limits: 0, webhooks: 0, insights: 0 };
  if (!retention.enabled) return { ...counts, complete: true };
  // Every request ends (its event and rollup written) before it can be deleted.
  await sweepEnds(deps, options.signal === undefined ? {} : { signal: options.signal });
  const started = Date.now();
  const cut = purgeCutoffs(retention, config.clock(), config.tokenTtlSeconds);
  // Counter windows run on the wall clock (lib/storage/counter-store.ts), the rest on the kit's.
  const wallNow = Date.now();
  const size = retention.batchSize;
  const steps: ReadonlyArray<readonly [Table, () => Promise<number>]> = [
    ['requests', () => purgeRequestBatch(knex, t, cut.requestsExpiredBefore, size)],
    ['failures', () => purgeLapsedLockBatch(knex, t, cut.locksEndedBy, size)],
    ['failures', () => purgeIdleFailureBatch(knex, t, cut.failuresIdleBefore, size)],
    ['limits', () => purgeCounterBatch(knex, t, wallNow, size)],
    ['webhooks', () => purgeWebhookBatch(knex, t, cut.webhooksEndedBefore, size)],
    ['insights', () => purgeRollups(knex, t, cut.insightsBefore)],
  ];
  const maxBatches = options.maxBatches ?? Number.POSITIVE_INFINITY;
  let batches = 0;
  let complete = true;
  run: for (const [table, step] of steps) {
    for (;;) {
      if (options.signal?.aborted === true || batches >= maxBatches) {
        complete = false;
        break run;
      }
      const batchStarted = performance.now();
      const deleted = await step();
      batches += 1;
      counts[table] += deleted;
      // A short batch: nothing more is due (or another instance holds the rest and deletes it).
      if (deleted < size) break;
      const pause = pauseAfter(retention, performance.now() - batchStarted);
      if (pause > 0) await wait(pause);
    }
  }
  events.emit('purged', { ...counts, durationMs: Date.now() - started, complete });
  return { ...counts, complete };
}

export async function forget(deps: OtpDeps, phone: PhoneInput): Promise<ForgetResult> {
  const { config, knex, events } = deps;
  const t = config.tables;
  const e164 = parsePhone(phone, config.defaultCountry).e164;
  const pending = await pendingOfNumber(knex, t, e164, config.clock());
  // Deleting a row revokes its lease: a claimed row is checked before it goes to a provider. Rows
  // not ended yet end first (`otp.canceled`, reason `forgotten`), in the same transaction.
  const requests = await endAndErase(deps, e164);
  const failures = await eraseFailures(knex, t, e164);
  // Every registered limit's row for the number, whichever limit made it (issue 23.5).
  const limits = await eraseCounters(knex, t, e164, counterStoresOfNumber());
  // Its events, by the keyed digest of the number under every secret (issue 23.4): found even where webhooks are off here.
  const webhooks = await eraseWebhooksOfNumber(knex, t, outboxSubjectKeys(config.secrets).map((key) => outboxSubject(key, e164)));
  const result: ForgetResult = { requests, cancelled: Math.min(pending.pending, requests), leased: Math.min(pending.leased, requests), failures, limits, webhooks };
  events.emit('forgotten', { phone: maskPhone(e164), requests, cancelled: result.cancelled, failures, limits });
  return result;
}
