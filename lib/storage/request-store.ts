/**
 * The request store: everything the send and verify paths ask of the request table. Whether the
 * statements of concurrent requests are group-committed (lib/storage/batcher.ts) is decided here
 * and nowhere else, behind one switch (`batching`): the inserts, supersedes and "sent" marks of
 * concurrent sends, the lookups and consumes of concurrent verifies, and the retry poller's lease
 * checks then go to the database as one statement per batch. Every caller still awaits its own
 * item, so what a caller or the database sees afterwards is what one statement per request wrote;
 * only round trips and commits are shared. The answers and the rows are the same with batching on
 * or off.
 *
 * Without INSERT … RETURNING (MySQL) the inserts run one by one inside the batch; the others batch
 * everywhere.
 */
import type { Knex } from 'knex';
import { createBatcher, REQUESTS_PER_BATCH, retryConflicts } from './batcher.js';
import { supportsReturning } from './db.js';
import { finishAttempt, finishSentMany, leasesHeld, type DeliveryPatch, type SentMark } from './delivery-queries.js';
import type { OtpTableNames } from './migrations.js';
import { insertOutbox, withOutbox, type OutboxEntry } from './outbox-queries.js';
import { insertRequest, insertRequests, latestRequestsWithLocks, requestByRequestId, supersedeBelowNewest, supersedeOlder, supersedeOlderMany, type LockJoin, type NewRequest, type RequestWithLocks } from './request-queries.js';
import type { RequestRow } from './request-row.js';
import { consumeMany, consumeRequest, countAttempt, spendToken, type BudgetCondition, type ConsumeItem } from './verify-queries.js';

export interface RequestStoreOptions {
  /** Group-commit the statements of concurrent requests. @default true */
  readonly batching?: boolean;
  /** The lock rows read with every lookup. */
  readonly locks: LockJoin;
}

export interface RequestStore {
  /** Inserts the request row (state `sending`, under the caller's lease); resolves with its id. */
  insert(row: NewRequest): Promise<number>;
  /** Supersedes every older pending request of the number. */
  supersede(phone: string, id: number, now: number): Promise<void>;
  /** Supersedes every pending request of the number older than its newest, whoever made it (lib/core/supersede-plan.ts). */
  supersedeBelowNewest(phone: string, now: number): Promise<void>;
  /**
   * Writes a delivered attempt, fenced by its lease; false when the lease was lost. `leaseExpiresAt`
   * is the lease the caller holds: a write close to its end is never shared with others. `events`
   * (webhooks) are written in the same transaction, only if the mark is.
   */
  markSent(mark: SentMark, leaseExpiresAt: number | null, now: number, events?: readonly OutboxEntry[]): Promise<boolean>;
  /** Writes any outcome of a delivery attempt, fenced by the lease token; false when it was lost. `events` as for markSent. */
  finish(id: number, leaseToken: string, patch: DeliveryPatch, events?: readonly OutboxEntry[]): Promise<boolean>;
  /** Whether the lease token still holds the row (not taken over, not erased by `forget`). */
  holdsLease(id: number, leaseToken: string): Promise<boolean>;
  /** The newest request of the number (the only one that can be live), with the number's lock rows. */
  latest(phone: string): Promise<RequestWithLocks | undefined>;
  byRequestId(requestId: string): Promise<RequestRow | undefined>;
  /** Counts one attempt on a live request under the cap (and the budget condition). */
  countAttempt(id: number, now: number, maxAttempts: number, budget?: BudgetCondition): Promise<boolean>;
  /** Consumes a live request; exactly one caller gets true. */
  consume(id: number, now: number, maxAttempts: number, attemptCounted: boolean, budget?: BudgetCondition): Promise<boolean>;
  /** Spends a verification token once (bound to its phone and purpose). */
  spendToken(requestId: string, phone: string, purpose: string, now: number): Promise<boolean>;
  /** Resolves once nothing is queued or being written. */
  drain(): Promise<void>;
}

interface MarkItem {
  readonly mark: SentMark;
  readonly now: number;
  readonly events: readonly OutboxEntry[];
}

/** Rows per statement: the widest (the insert) binds 20 values a row. */
const MAX_BATCH = REQUESTS_PER_BATCH;
/**
 * A "sent" write is shared with others only while at least this much of its lease is left: on
 * MySQL the batch learns which rows it wrote by reading them again, which is only sound while no
 * other worker can have taken a row over and finished it meanwhile.
 */
const BATCH_LEASE_MARGIN_MS = 2_000;

export function createRequestStore(knex: Knex, tables: OtpTableNames, options: RequestStoreOptions): RequestStore {
  const batching = options.batching ?? true;
  const { locks } = options;

  async function insertBatch(rows: readonly NewRequest[]): Promise<number[]> {
    if (rows.length > 1 && (await supportsReturning(knex))) return insertRequests(knex, tables, rows);
    const ids: number[] = [];
    for (const row of rows) ids.push(await insertRequest(knex, tables, row));
    return ids;
  }

  async function supersedeBatch(fresh: ReadonlyArray<{ phone: string; id: number; now: number }>): Promise<null[]> {
    const now = Math.max(...fresh.map((f) => f.now));
    await retryConflicts(() => supersedeOlderMany(knex, tables, fresh, now));
    return fresh.map(() => null);
  }

  async function markBatch(items: ReadonlyArray<MarkItem>): Promise<boolean[]> {
    const now = Math.max(...items.map((i) => i.now));
    const events = new Map(items.filter((i) => i.events.length > 0).map((i) => [i.mark.id, i.events]));
    // One statement per attempt number (on the send path they are all the first attempt).
    const byAttempts = new Map<number, SentMark[]>();
    for (const { mark } of items) {
      const group = byAttempts.get(mark.sendAttempts);
      if (group === undefined) byAttempts.set(mark.sendAttempts, [mark]);
      else group.push(mark);
    }
    const written = new Map<number, boolean>();
    for (const group of byAttempts.values()) {
      // With webhooks, the marks and the events of the marks written commit together.
      const write = (db: Knex): Promise<boolean[]> => finishSentMany(db, tables, group, now);
      const answers = await retryConflicts(() =>
        events.size === 0
          ? write(knex)
          : knex.transaction(async (trx) => {
              const done = await write(trx);
              await insertOutbox(trx, tables, group.flatMap((m, i) => (done[i] === true ? (events.get(m.id) ?? []) : [])), now);
              return done;
            }),
      );
      group.forEach((m, i) => written.set(m.id, answers[i] === true));
    }
    return items.map(({ mark }) => written.get(mark.id) === true);
  }

  /**
   * Consumes of concurrent verifies: one statement per shape (with or without the budget
   * condition). A second consume of one request in the same batch loses, as it would one statement
   * later: exactly one caller wins.
   */
  async function consumeBatch(items: readonly ConsumeItem[]): Promise<boolean[]> {
    const answers = new Map<ConsumeItem, boolean>();
    const seen = new Set<number>();
    const shapes = new Map<boolean, ConsumeItem[]>();
    for (const item of items) {
      if (seen.has(item.id)) {
        answers.set(item, false);
        continue;
      }
      seen.add(item.id);
      const shape = shapes.get(item.budget !== undefined);
      if (shape === undefined) shapes.set(item.budget !== undefined, [item]);
      else shape.push(item);
    }
    for (const group of shapes.values()) {
      const consumed = await retryConflicts(() => consumeMany(knex, tables, group));
      group.forEach((item, i) => answers.set(item, consumed[i] === true));
    }
    return items.map((item) => answers.get(item) === true);
  }

  async function lookupBatch(phones: readonly string[]): Promise<Array<RequestWithLocks | null>> {
    const found = await latestRequestsWithLocks(knex, tables, [...new Set(phones)], locks);
    return phones.map((phone) => found.get(phone) ?? null);
  }

  /** The poller's checks before each provider call: one read for the attempts in flight, not one each. */
  function leaseCheckBatch(items: ReadonlyArray<{ id: number; leaseToken: string }>): Promise<boolean[]> {
    return leasesHeld(knex, tables, items);
  }

  const inserts = createBatcher(insertBatch, { maxBatch: MAX_BATCH });
  const supersedes = createBatcher(supersedeBatch, { maxBatch: MAX_BATCH });
  const marks = createBatcher(markBatch, { maxBatch: MAX_BATCH });
  const lookups = createBatcher(lookupBatch, { maxBatch: MAX_BATCH });
  const consumes = createBatcher(consumeBatch, { maxBatch: MAX_BATCH });
  const leaseChecks = createBatcher(leaseCheckBatch, { maxBatch: MAX_BATCH });

  /** A fenced write, with its events in the same transaction when there are any. */
  function finishWith(id: number, leaseToken: string, patch: DeliveryPatch, events: readonly OutboxEntry[]): Promise<boolean> {
    if (events.length === 0) return finishAttempt(knex, tables, id, leaseToken, patch);
    return withOutbox(knex, tables, (trx) => finishAttempt(trx, tables, id, leaseToken, patch), (ok) => (ok ? events : []), patch.now);
  }

  function markAlone(mark: SentMark, now: number, events: readonly OutboxEntry[]): Promise<boolean> {
    return finishWith(mark.id, mark.leaseToken, { ...mark, status: 'sent', nextAttemptAt: null, keepCipher: mark.keepCipher === true, now }, events);
  }

  return {
    insert: (row) => (batching ? inserts.add(row) : insertRequest(knex, tables, row)),
    async supersede(phone, id, now) {
      if (batching) await supersedes.add({ phone, id, now });
      else await supersedeOlder(knex, tables, phone, id, now);
    },
    async supersedeBelowNewest(phone, now) {
      await retryConflicts(() => supersedeBelowNewest(knex, tables, phone, now));
    },
    markSent(mark, leaseExpiresAt, now, events = []) {
      const roomy = leaseExpiresAt !== null && now < leaseExpiresAt - BATCH_LEASE_MARGIN_MS;
      return batching && roomy && mark.keepCipher !== true ? marks.add({ mark, now, events }) : markAlone(mark, now, events);
    },
    finish: (id, leaseToken, patch, events = []) => finishWith(id, leaseToken, patch, events),
    async holdsLease(id, leaseToken) {
      if (batching) return leaseChecks.add({ id, leaseToken });
      return (await leasesHeld(knex, tables, [{ id, leaseToken }]))[0] === true;
    },
    async latest(phone) {
      if (batching) return (await lookups.add(phone)) ?? undefined;
      return (await latestRequestsWithLocks(knex, tables, [phone], locks)).get(phone);
    },
    byRequestId: (requestId) => requestByRequestId(knex, tables, requestId),
    countAttempt: (id, now, maxAttempts, budget) => countAttempt(knex, tables, id, now, maxAttempts, budget),
    consume: (id, now, maxAttempts, attemptCounted, budget) =>
      batching ? consumes.add({ id, now, maxAttempts, attemptCounted, ...(budget === undefined ? {} : { budget }) }) : consumeRequest(knex, tables, id, now, maxAttempts, attemptCounted, budget),
    spendToken: (requestId, phone, purpose, now) => spendToken(knex, tables, requestId, phone, purpose, now),
    async drain() {
      await Promise.all([inserts.drain(), supersedes.drain(), marks.drain(), lookups.drain(), consumes.drain(), leaseChecks.drain()]);
    },
  };
}
