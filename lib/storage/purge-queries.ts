/**
 * The lifecycle statements: delete what retention allows, and erase one number. Every delete is
 * one bounded batch walked along an index (oldest first), in a transaction of its own, so no
 * statement holds many locks for long. Rows another purger (another instance) holds are skipped,
 * not waited for:
 *
 * - PostgreSQL: `DELETE … WHERE pk IN (SELECT pk … ORDER BY col LIMIT n FOR UPDATE SKIP LOCKED)`;
 * - MySQL / MariaDB (no LIMIT in an IN subquery): `SELECT pk … FOR UPDATE SKIP LOCKED`, then
 *   `DELETE … WHERE pk IN (…)`, in one READ COMMITTED transaction (no gap locks, so inserts of live
 *   sends never wait for a purge);
 * - SQLite: `DELETE … WHERE pk IN (SELECT pk … LIMIT n)`, one statement under its write lock.
 */
import type { Knex } from 'knex';
import { counterRowKey } from './counter-store.js';
import { dialectOf } from './db.js';
import type { OtpTableNames } from './migrations.js';
import { num, type Raw } from './sql.js';

type Where = (q: Knex.QueryBuilder) => Knex.QueryBuilder;

/** Deletes at most `limit` rows of `table` matching `where`, oldest `orderBy` first. Returns how many went. */
async function deleteBatch(knex: Knex, table: string, pk: string, orderBy: string, where: Where, limit: number): Promise<number> {
  const dialect = dialectOf(knex);
  if (dialect === 'mysql') {
    const deleted = await knex.transaction(
      async (trx): Promise<number> => {
        const rows = (await where(trx(table).select(pk)).orderBy(orderBy, 'asc').limit(limit).forUpdate().skipLocked()) as Raw[];
        if (rows.length === 0) return 0;
        return trx(table)
          .whereIn(
            pk,
            rows.map((r) => r[pk] as Knex.Value),
          )
          .del();
      },
      { isolationLevel: 'read committed' },
    );
    return deleted ?? 0;
  }
  const picked = where(knex(table).select(pk)).orderBy(orderBy, 'asc').limit(limit);
  if (dialect === 'postgres') void picked.forUpdate().skipLocked();
  return knex(table).whereIn(pk, picked).del();
}

/** One batch of request rows whose code expired before `expiredBefore` (the `expires_at` index). */
export function purgeRequestBatch(knex: Knex, t: OtpTableNames, expiredBefore: number, limit: number): Promise<number> {
  return deleteBatch(knex, t.requests, 'id', 'expires_at', (q) => q.where('expires_at', '<', expiredBefore), limit);
}

/** One batch of failure-budget rows whose lock has lapsed (the `locked_until` index). */
export function purgeLapsedLockBatch(knex: Knex, t: OtpTableNames, endedBy: number, limit: number): Promise<number> {
  return deleteBatch(knex, t.failures, 'phone', 'locked_until', (q) => q.whereNotNull('locked_until').andWhere('locked_until', '<=', endedBy), limit);
}

/** One batch of unlocked failure-budget rows with no wrong code since `idleBefore` (the `updated_at` index). */
export function purgeIdleFailureBatch(knex: Knex, t: OtpTableNames, idleBefore: number, limit: number): Promise<number> {
  return deleteBatch(knex, t.failures, 'phone', 'updated_at', (q) => q.where('updated_at', '<', idleBefore).whereNull('locked_until'), limit);
}

/** One batch of counter rows whose window (or block) has ended (the `expire` index). Wall clock, like the counters. */
export function purgeCounterBatch(knex: Knex, t: OtpTableNames, endedBefore: number, limit: number): Promise<number> {
  return deleteBatch(knex, t.limits, 'key', 'expire', (q) => q.whereNotNull('expire').andWhere('expire', '<', endedBefore), limit);
}

/** What one number's request rows are doing right now, read before they are erased. */
export interface PendingOfNumber {
  /** Rows still waiting for a delivery (`queued`, or `sending`). */
  readonly pending: number;
  /** Of those, rows under a live lease: an attempt that may already be at a provider. */
  readonly leased: number;
}

export async function pendingOfNumber(knex: Knex, t: OtpTableNames, phone: string, now: number): Promise<PendingOfNumber> {
  const row: Raw | undefined = await knex<Raw>(t.requests)
    .where({ phone })
    .whereIn('status', ['queued', 'sending'])
    .first(knex.raw('count(*) as pending'), knex.raw('sum(case when lease_expires_at > ? then 1 else 0 end) as leased', [now]));
  return { pending: num(row?.pending ?? 0), leased: num(row?.leased ?? 0) };
}

/** One batch of a number's request rows (the `(phone, id)` index). Deleting a row also revokes its lease. */
export function eraseRequestBatch(knex: Knex, t: OtpTableNames, phone: string, limit: number): Promise<number> {
  return deleteBatch(knex, t.requests, 'id', 'id', (q) => q.where({ phone }), limit);
}

/** The number's failure-budget row. */
export async function eraseFailures(knex: Knex, t: OtpTableNames, phone: string): Promise<number> {
  return knex(t.failures).where({ phone }).del();
}

/** The number's counter rows (`<name>:<phone>` for each named counter keyed by the number). */
export async function eraseCounters(knex: Knex, t: OtpTableNames, phone: string, counterNames: readonly string[]): Promise<number> {
  if (counterNames.length === 0) return 0;
  return knex(t.limits)
    .whereIn(
      'key',
      counterNames.map((name) => counterRowKey(name, phone)),
    )
    .del();
}
