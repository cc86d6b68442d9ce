/**
 * The end of every request, exactly once across instances: the poller's end sweep
 * (`sweepEnds`), `otp.cancel()` and the erasure of `forget` claim rows through
 * lib/storage/end-queries.ts, which writes the end webhook and the rollup increments in the same
 * transaction as the claim. The in-process `ended` event is emitted after the commit, by the
 * process that claimed the end. Nothing here runs on the send or verify path.
 */
import { endedEvent, endWebhookType, type RequestEndedEvent } from '../core/end-event.js';
import { addCounters, hourOf, type RollupCounters } from '../core/insights.js';
import { canonicalPhone } from '../core/phone.js';
import { countryOf, endOf, rollupOf, type EndingRow, type RequestEnd, type RollupKey } from '../core/request-end.js';
import { OtpError } from '../errors.js';
import { dialectOf } from '../storage/db.js';
import { claimEnds, type EndBatch, type EndedRow, type EndSelection } from '../storage/end-queries.js';
import { rollupIncrements } from '../storage/insights-queries.js';
import type { OtpDeps } from './deps.js';
import { parsePhone } from './inputs.js';
import { endWebhookEntries } from '../webhooks/end-events.js';

/**
 * Rows claimed per transaction. Each claim pays a transaction and up to three index-range picks,
 * and on MariaDB each pick steps over the index entries its predecessors delete-marked, so larger
 * batches cost less per row: a sweep of 20,000 ended rows took 36-46 µs of Node and 61-63 µs of
 * mysqld per row at 100, 20 µs and 34 µs at 1,000 (docs/benchmarks.md). The price: a claimed row's
 * other writers (a late delivery report, a token being spent) wait for the claim to commit, about
 * 45 ms for 1,000 rows on MariaDB. SQLite holds its one write lock for the whole claim (about 18 ms
 * for 1,000 rows), so it claims fewer at a time.
 */
export const END_BATCH = 1000;
const SQLITE_END_BATCH = 250;

/** Rows per claim on this database. */
export const endBatchOf = (deps: Pick<OtpDeps, 'knex'>): number => (dialectOf(deps.knex) === 'sqlite' ? SQLITE_END_BATCH : END_BATCH);
/** A code is treated as expired this long after `expires_at` (clock skew between instances). */
const EXPIRY_GRACE_MS = 2_000;

/** How long a row at the attempt cap waits before it ends: a provider-checked right code may still be in flight. */
const settleMsOf = (deps: OtpDeps): number => deps.config.providerTimeoutMs + 5_000;

function batchOf(deps: OtpDeps, now: number, decide: (row: EndingRow) => RequestEnd | undefined, emitted: RequestEndedEvent[], erase = false): EndBatch {
  return {
    now,
    limit: deps.config.retention.batchSize > 0 && erase ? Math.min(deps.config.retention.batchSize, 1000) : endBatchOf(deps),
    erase,
    decide,
    effects(ended: readonly EndedRow[]) {
      const outbox = [];
      // The event object is built only when something takes it: a listener or an end webhook.
      const listened = deps.events.listens('ended');
      const hooks = deps.config.webhooks;
      // Requests of the same hour and key are summed first: one increment per grain for each.
      const sums = new Map<string, { key: RollupKey; counters: RollupCounters }>();
      for (const { row, end } of ended) {
        const country = countryOf(row.phone);
        if (listened || (hooks !== undefined && hooks.events.has(endWebhookType(end.outcome)))) {
          const event = endedEvent(row, end, country);
          if (listened) emitted.push(event);
          outbox.push(...endWebhookEntries(hooks, event, now));
        }
        const { key, counters } = rollupOf(row, end, country);
        const id = `${hourOf(key.at)}\u0000${key.country}\u0000${key.channel}\u0000${key.provider}\u0000${key.purpose}\u0000${key.step}`;
        const sum = sums.get(id);
        if (sum === undefined) sums.set(id, { key, counters });
        else addCounters(sum.counters, counters);
      }
      return { outbox, rollups: [...sums.values()].flatMap(({ key, counters }) => rollupIncrements(key, counters)) };
    },
  };
}

/** Claims one batch; emits `ended` for what it claimed once the transaction committed. */
async function claimBatch(deps: OtpDeps, selection: EndSelection, now: number, decide: (row: EndingRow) => RequestEnd | undefined, erase = false): Promise<{ ended: EndedRow[]; picked: number }> {
  const emitted: RequestEndedEvent[] = [];
  const result = await claimEnds(deps.knex, deps.config.tables, selection, batchOf(deps, now, decide, emitted, erase));
  for (const event of emitted) deps.events.emit('ended', event);
  return result;
}

export interface SweepOptions {
  /** Stop after this many batches. @default no bound */
  readonly maxBatches?: number;
  readonly signal?: AbortSignal;
}

/**
 * Ends every request that has ended (verified, superseded, expired, at the attempt cap) and was
 * not claimed yet; safe from any number of pollers at once. Answers how many it ended.
 */
export async function sweepEnds(deps: OtpDeps, options: SweepOptions = {}): Promise<number> {
  const { config } = deps;
  const at = config.clock() - EXPIRY_GRACE_MS;
  const settleMs = settleMsOf(deps);
  const selection: EndSelection = { kind: 'due', expiredBy: at, maxAttempts: config.maxAttempts, settledBy: at - settleMs };
  const limit = endBatchOf(deps);
  let total = 0;
  for (let batches = 0; batches < (options.maxBatches ?? Number.POSITIVE_INFINITY); batches += 1) {
    if (options.signal?.aborted === true) break;
    const { ended, picked } = await claimBatch(deps, selection, config.clock(), (row) => endOf(row, at, config.maxAttempts, settleMs));
    total += ended.length;
    if (picked < limit) break;
  }
  return total;
}

/** Deletes every request row of a number, ending (canceled, reason `forgotten`) those not ended yet first. Answers rows deleted. */
export async function endAndErase(deps: OtpDeps, e164: string): Promise<number> {
  const { config } = deps;
  let deleted = 0;
  for (;;) {
    const now = config.clock();
    const { picked } = await claimBatch(deps, { kind: 'phone', phone: e164 }, now, (row) => endOf(row, now, config.maxAttempts, settleMsOf(deps), 'forgotten'), true);
    deleted += picked;
    if (picked === 0) break;
  }
  return deleted;
}

export interface CancelResult {
  /** Live requests canceled (their codes no longer verify and are never sent again). */
  readonly canceled: number;
}

const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `otp.cancel(requestId | phone)`: ends the live request (by its id) or the number's live requests
 * now, outcome `canceled` (reason `canceled`). Verified, expired or already ended requests are
 * left as they are. Safe against a concurrent verify: whichever commits first wins.
 */
export async function cancel(deps: OtpDeps, target: string): Promise<CancelResult> {
  if (typeof target !== 'string' || target.length === 0 || target.length > 64) {
    throw new OtpError('VALIDATION_FAILED', 'cancel: pass a request id (as send answered it) or a phone number', { field: 'target' });
  }
  const byId = REQUEST_ID.test(target);
  const phone = byId ? undefined : canonicalPhone(target, deps.config.defaultCountry) === undefined ? undefined : parsePhone(target, deps.config.defaultCountry).e164;
  if (!byId && phone === undefined) throw new OtpError('VALIDATION_FAILED', 'cancel: the target is neither a request id nor a valid phone number', { field: 'target' });
  const selection: EndSelection = byId ? { kind: 'cancel', requestId: target.toLowerCase() } : { kind: 'cancel', ...(phone === undefined ? {} : { phone }) };
  const limit = endBatchOf(deps);
  let canceled = 0;
  for (;;) {
    const now = deps.config.clock();
    const { ended, picked } = await claimBatch(deps, selection, now, (row) => endOf(row, now, deps.config.maxAttempts, settleMsOf(deps), 'canceled'));
    canceled += ended.filter((e) => e.end.outcome === 'canceled').length;
    if (picked < limit || ended.length === 0) break;
  }
  return { canceled };
}
