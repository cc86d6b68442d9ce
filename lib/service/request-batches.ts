/**
 * The request-row statements of the hot paths, group-committed (lib/storage/batcher.ts): the
 * inserts, the supersedes and the "sent" marks of concurrent sends, and the lookups of concurrent
 * verifies, each go to the database as one statement per batch. Every caller still awaits its own
 * item before it answers, so what a caller or the database sees afterwards is what one statement
 * per request wrote; only round trips and commits are shared.
 *
 * Without INSERT … RETURNING (MySQL) the inserts run one by one inside the batch; the other two
 * batch everywhere.
 */
import type { Knex } from 'knex';
import { createBatcher, retryConflicts } from '../storage/batcher.js';
import { supportsReturning } from '../storage/db.js';
import type { OtpTableNames } from '../storage/migrations.js';
import { finishSentMany, insertRequest, insertRequests, latestRequestsWithLocks, supersedeOlderMany, type LockJoin, type NewRequest, type RequestWithLocks, type SentMark } from '../storage/queries.js';

export interface RequestBatches {
  /** Inserts the request row; resolves with its id. */
  insert(row: NewRequest): Promise<number>;
  /** Supersedes every older pending request of the number. */
  supersede(phone: string, id: number, now: number): Promise<void>;
  /** Writes a delivered attempt, fenced by its lease; false when the lease was lost. */
  markSent(mark: SentMark, now: number): Promise<boolean>;
  /** The newest request of the number (the only one that can be live), with the number's lock rows. */
  latest(phone: string): Promise<RequestWithLocks | undefined>;
  /** Resolves once nothing is queued or being written. */
  drain(): Promise<void>;
}

/** Rows per statement: the widest (the insert) binds 16 values a row. */
const MAX_BATCH = 50;

export function createRequestBatches(knex: Knex, tables: OtpTableNames, locks: LockJoin): RequestBatches {
  const inserts = createBatcher(async (rows: readonly NewRequest[]): Promise<number[]> => {
    if (rows.length > 1 && (await supportsReturning(knex))) return insertRequests(knex, tables, rows);
    const ids: number[] = [];
    for (const row of rows) ids.push(await insertRequest(knex, tables, row));
    return ids;
  }, { maxBatch: MAX_BATCH });

  const supersedes = createBatcher(async (fresh: ReadonlyArray<{ phone: string; id: number; now: number }>): Promise<null[]> => {
    const now = Math.max(...fresh.map((f) => f.now));
    await retryConflicts(() => supersedeOlderMany(knex, tables, fresh, now));
    return fresh.map(() => null);
  }, { maxBatch: MAX_BATCH });

  const marks = createBatcher(async (items: ReadonlyArray<{ mark: SentMark; now: number }>): Promise<boolean[]> => {
    const now = Math.max(...items.map((i) => i.now));
    // One statement per attempt number (on the send path they are all the first attempt).
    const byAttempts = new Map<number, SentMark[]>();
    for (const { mark } of items) {
      const group = byAttempts.get(mark.sendAttempts);
      if (group === undefined) byAttempts.set(mark.sendAttempts, [mark]);
      else group.push(mark);
    }
    const written = new Map<number, boolean>();
    for (const group of byAttempts.values()) {
      const answers = await retryConflicts(() => finishSentMany(knex, tables, group, now));
      group.forEach((m, i) => written.set(m.id, answers[i] === true));
    }
    return items.map(({ mark }) => written.get(mark.id) === true);
  }, { maxBatch: MAX_BATCH });

  const lookups = createBatcher(async (phones: readonly string[]): Promise<Array<RequestWithLocks | null>> => {
    const found = await latestRequestsWithLocks(knex, tables, [...new Set(phones)], locks);
    return phones.map((phone) => found.get(phone) ?? null);
  }, { maxBatch: MAX_BATCH });

  return {
    async latest(phone) {
      return (await lookups.add(phone)) ?? undefined;
    },
    insert: (row) => inserts.add(row),
    async supersede(phone, id, now) {
      await supersedes.add({ phone, id, now });
    },
    markSent: (mark, now) => marks.add({ mark, now }),
    async drain() {
      await Promise.all([inserts.drain(), supersedes.drain(), marks.drain(), lookups.drain()]);
    },
  };
}
