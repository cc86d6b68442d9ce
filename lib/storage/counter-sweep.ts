/**
 * Deletes counter rows whose window ended more than an hour ago. Found by a plain (non-locking)
 * read and deleted by key in bounded batches: a `DELETE … WHERE expire < ?` scans and locks every
 * row it reads on InnoDB, so one row locked elsewhere would have held the whole table, and every
 * send with it (audit 19.6).
 */
import type { Knex } from 'knex';
import { dialectOf } from './db.js';

/** Expired counter rows deleted per statement, and statements per sweep. */
const SWEEP_BATCH = 1_000;
const SWEEP_ROUNDS = 20;

export async function sweepExpiredCounters(knex: Knex, table: string, nowMs: number, lockWaitMs: number): Promise<number> {
  const cutoff = nowMs - 3_600_000;
  let deleted = 0;
  for (let round = 0; round < SWEEP_ROUNDS; round += 1) {
    const rows: Array<{ key: unknown }> = await knex(table).whereNotNull('expire').andWhere('expire', '<', cutoff).limit(SWEEP_BATCH).select('key');
    if (rows.length === 0) break;
    const query = knex(table).whereIn('key', rows.map((r) => String(r.key))).andWhere('expire', '<', cutoff).del();
    // A row locked elsewhere: give up this round (the next sweep tries again) rather than wait.
    if (dialectOf(knex) !== 'sqlite') query.timeout(lockWaitMs, { cancel: true });
    deleted += await query;
    if (rows.length < SWEEP_BATCH) break;
  }
  return deleted;
}
