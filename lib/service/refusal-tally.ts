/**
 * Refusals have no request row, so they are counted in process: `limit-hit` and `send-refused`
 * events add to an in-memory tally (no database work on the request path), written to the rollups
 * as one batched upsert by `flush()`: every 5 s while there are counts (an unref'd timer, also in
 * processes that run no poller), on every end sweep of the retry poller, before `insights()` reads
 * and on `close()`. A process that dies loses the refusals counted since its last flush (at most
 * 5 s of them).
 *
 * Reasons: `limit` (a send limit's `limit-hit`), `breaker` (`limit-hit` of `conversionBreaker`),
 * `policy` (`send-refused` for the destination country or number type), `challenge`
 * (`send-refused` reason `challenge`). Events with `monitored: true` (monitor mode let the request
 * through) are counted apart. Verify-side limits (`verifiesPerIp`, `verifyLock`, `failureBudget`)
 * refuse no send and are not counted.
 */
import { hourOf, zeroCounters, type RefusalReason, type RollupCounters } from '../core/insights.js';
import type { OtpEventMap, OtpEvents } from '../events.js';
import { rollupIncrements, upsertRollups } from '../storage/insights-queries.js';
import type { Knex } from 'knex';
import type { OtpTableNames } from '../storage/migrations.js';

/** Send limits whose `limit-hit` counts as a `limit` refusal. */
const SEND_LIMITS: ReadonlySet<string> = new Set(['sendCooldownSeconds', 'channelSwitchCooldownSeconds', 'sendsPerNumber', 'sendsPerIp', 'sendsPerPrefix', 'sendsPerCountry', 'dailySendBudget']);

export interface RefusalTally {
  /** Writes what was counted since the last flush (one batched upsert); counts stay in memory when the write fails. */
  flush(): Promise<void>;
  /** Stops listening. */
  stop(): void;
}

interface Entry {
  readonly at: number;
  readonly country: string;
  readonly channel: string;
  readonly counters: RollupCounters;
}

/** The refusal reason of a `limit-hit`, or undefined for a verify-side limit. */
export function limitReason(limit: string): RefusalReason | undefined {
  if (limit === 'conversionBreaker') return 'breaker';
  return SEND_LIMITS.has(limit) ? 'limit' : undefined;
}

/** How often counted refusals are written without a poller. */
const FLUSH_EVERY_MS = 5_000;

export function createRefusalTally(knex: Knex, tables: OtpTableNames, events: OtpEvents, clock: () => number, onError: (error: unknown) => void = () => undefined): RefusalTally {
  let pending = new Map<string, Entry>();
  let timer: NodeJS.Timeout | undefined;

  function count(reason: RefusalReason, monitored: boolean | undefined, country: string | undefined, channel: string | undefined): void {
    const at = hourOf(clock());
    const c = country ?? 'ZZ';
    const ch = channel ?? '';
    const id = `${at}\0${c}\0${ch}`;
    let entry = pending.get(id);
    if (entry === undefined) {
      entry = { at, country: c, channel: ch, counters: zeroCounters() };
      pending.set(id, entry);
    }
    if (monitored === true) entry.counters.monitored[reason] += 1;
    else entry.counters.refusals[reason] += 1;
    if (timer === undefined) {
      timer = setTimeout(() => {
        timer = undefined;
        tally.flush().catch(onError);
      }, FLUSH_EVERY_MS);
      timer.unref();
    }
  }

  function onLimit(e: OtpEventMap['limit-hit']): void {
    const reason = limitReason(e.limit);
    if (reason !== undefined) count(reason, e.monitored, e.country, e.channel);
  }

  function onRefused(e: OtpEventMap['send-refused']): void {
    count(e.reason === 'challenge' ? 'challenge' : 'policy', e.monitored, e.country, e.channel);
  }

  events.on('limit-hit', onLimit).on('send-refused', onRefused);
  let flushing: Promise<void> = Promise.resolve();

  async function write(): Promise<void> {
    if (pending.size === 0) return;
    const taken = pending;
    pending = new Map();
    const increments = [...taken.values()].flatMap((e) => rollupIncrements({ at: e.at, country: e.country, channel: e.channel, provider: '', purpose: '' }, e.counters));
    try {
      await upsertRollups(knex, tables, increments, clock());
    } catch (error) {
      // Put the counts back for the next flush.
      for (const [id, entry] of taken) {
        const now = pending.get(id);
        if (now === undefined) pending.set(id, entry);
        else {
          for (const r of ['limit', 'policy', 'breaker', 'challenge'] as const) {
            now.counters.refusals[r] += entry.counters.refusals[r];
            now.counters.monitored[r] += entry.counters.monitored[r];
          }
        }
      }
      throw error;
    }
  }

  const tally: RefusalTally = {
    flush() {
      // One flush at a time: a second waits for the first, then writes what came since.
      flushing = flushing.catch(() => undefined).then(write);
      return flushing;
    },
    stop() {
      events.off('limit-hit', onLimit).off('send-refused', onRefused);
      clearTimeout(timer);
      timer = undefined;
    },
  };
  return tally;
}
