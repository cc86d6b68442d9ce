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
import { retryConflicts } from './batcher.js';
import { counterRowKey } from './counter-store.js';
import { dialectOf } from './db.js';
import type { OtpTableNames } from './migrations.js';
import { changedRows, num, type Raw } from './sql.js';

/** One batch to delete: `where` is SQL with `??` for identifiers and `?` for values. */
interface Batch {
  readonly table: string;
  readonly pk: string;
  /** The index the batch walks, oldest first; MySQL is told to use it (FORCE INDEX). */
  readonly index: string;
  readonly orderBy: string;
  readonly where: string;
  readonly bindings: readonly Knex.RawBinding[];
}

/**
 * Deletes at most `limit` rows of one batch. Returns how many went. On MySQL the locking read must
 * walk the index: a table scan with a sort would lock every matching row it reads, not only the
 * `limit` it returns. A deadlock (InnoDB can still report one between concurrent purgers) rolls
 * the batch back; it is run again.
 */
async function deleteBatch(knex: Knex, b: Batch, limit: number): Promise<number> {
  const dialect = dialectOf(knex);
  if (dialect === 'mysql') {
    const pick = `SELECT ?? FROM ?? FORCE INDEX (??) WHERE ${b.where} ORDER BY ?? LIMIT ? FOR UPDATE SKIP LOCKED`;
    const deleted = await retryConflicts(() =>
      knex.transaction(
        async (trx): Promise<number> => {
          const [rows] = (await trx.raw(pick, [b.pk, b.table, b.index, ...b.bindings, b.orderBy, limit])) as [Raw[]];
          if (rows.length === 0) return 0;
          return trx(b.table)
            .whereIn(
              b.pk,
              rows.map((r) => r[b.pk] as Knex.Value),
            )
            .del();
        },
        { isolationLevel: 'read committed' },
      ),
    );
    return deleted ?? 0;
  }
  // PostgreSQL locks only the rows the LIMIT lets through (and skips those another purger holds).
  const lock = dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
  const sql = `DELETE FROM ?? WHERE ?? IN (SELECT ?? FROM ?? WHERE ${b.where} ORDER BY ?? LIMIT ?${lock})`;
  return changedRows(dialect, await knex.raw(sql, [b.table, b.pk, b.pk, b.table, ...b.bindings, b.orderBy, limit]));
}

/** One batch of request rows whose code expired before `expiredBefore` (the `expires_at` index). */
export function purgeRequestBatch(knex: Knex, t: OtpTableNames, expiredBefore: number, limit: number): Promise<number> {
  return deleteBatch(knex, { table: t.requests, pk: 'id', index: `${t.requests}_expires_idx`, orderBy: 'expires_at', where: '?? < ?', bindings: ['expires_at', expiredBefore] }, limit);
}

/** One batch of failure-budget rows whose lock has lapsed (the `locked_until` index). */
export function purgeLapsedLockBatch(knex: Knex, t: OtpTableNames, endedBy: number, limit: number): Promise<number> {
  return deleteBatch(knex, { table: t.failures, pk: 'phone', index: `${t.failures}_locked_idx`, orderBy: 'locked_until', where: '?? <= ?', bindings: ['locked_until', endedBy] }, limit);
}

/** One batch of unlocked failure-budget rows with no wrong code since `idleBefore` (the `updated_at` index). */
export function purgeIdleFailureBatch(knex: Knex, t: OtpTableNames, idleBefore: number, limit: number): Promise<number> {
  const where = '?? < ? AND ?? IS NULL';
  return deleteBatch(knex, { table: t.failures, pk: 'phone', index: `${t.failures}_updated_idx`, orderBy: 'updated_at', where, bindings: ['updated_at', idleBefore, 'locked_until'] }, limit);
}

/** One batch of counter rows whose window (or block) has ended (the `expire` index). Wall clock, like the counters. */
export function purgeCounterBatch(knex: Knex, t: OtpTableNames, endedBefore: number, limit: number): Promise<number> {
  return deleteBatch(knex, { table: t.limits, pk: 'key', index: `${t.limits}_expire_idx`, orderBy: 'expire', where: '?? < ?', bindings: ['expire', endedBefore] }, limit);
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
  return deleteBatch(knex, { table: t.requests, pk: 'id', index: `${t.requests}_phone_idx`, orderBy: 'id', where: '?? = ?', bindings: ['phone', phone] }, limit);
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

/** One batch of ended outbox rows (delivered or failed) last changed before `endedBefore` (the `updated_at` index); pending rows stay. */
export function purgeWebhookBatch(knex: Knex, t: OtpTableNames, endedBefore: number, limit: number): Promise<number> {
  const where = '?? < ? AND ?? <> ?';
  return deleteBatch(knex, { table: t.webhooks, pk: 'id', index: `${t.webhooks}_updated_idx`, orderBy: 'updated_at', where, bindings: ['updated_at', endedBefore, 'status', 'pending'] }, limit);
}

/** The outbox rows of one number, found by its `phone_key` under every key (a deleted leased row is fenced off at its write). */
export async function eraseWebhooksOfNumber(knex: Knex, t: OtpTableNames, phoneKeys: readonly string[]): Promise<number> {
  if (phoneKeys.length === 0) return 0;
  return knex(t.webhooks).whereIn('phone_key', [...phoneKeys]).del();
}
