/**
 * Writes to counter rows besides the upsert (lib/storage/counter-store.ts): the sweep, giving
 * units back and resetting.
 *
 * The sweep deletes counter rows whose window ended more than an hour ago. Found by a plain (non-locking)
 * read and deleted by key in bounded batches: a `DELETE … WHERE expire < ?` scans and locks every
 * row it reads on InnoDB, so one row locked elsewhere would have held the whole table, and every
 * send with it (audit 19.6).
 */
import type { Knex } from 'knex';
import { dialectOf } from './db.js';
import { expireColumn, pointsColumn, type CounterSlot } from './counter-sql.js';

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

/**
 * Gives back one unit per row key of each slot. A window whose last unit is given back ends with
 * it, so a voided take never moves the start of the next real window earlier (audit 23.3).
 * `expire` is assigned first: MySQL evaluates assignments left to right, and it must see the old
 * `points` as the others do.
 */
export async function giveBackUnits(knex: Knex, table: string, keysBySlot: ReadonlyMap<CounterSlot, readonly string[]>): Promise<void> {
  for (const [slot, keys] of keysBySlot) {
    const [points, expire] = [pointsColumn(slot), expireColumn(slot)];
    await knex(table)
      .whereIn('key', keys)
      .andWhere(points, '>', 0)
      .update({ [expire]: knex.raw('CASE WHEN ?? <= 1 THEN ? ELSE ?? END', [points, Math.trunc(Date.now()), expire]), [points]: knex.raw('?? - 1', [points]) });
  }
}

/** Forgets counters: a plain counter's row is deleted, a slot is emptied (its row's other slots stay). */
export async function resetSlots(knex: Knex, table: string, keysBySlot: ReadonlyMap<CounterSlot, readonly string[]>): Promise<void> {
  for (const [slot, keys] of keysBySlot) {
    if (slot === 0) await knex(table).whereIn('key', keys).del();
    else await knex(table).whereIn('key', keys).update({ [pointsColumn(slot)]: 0, [expireColumn(slot)]: 0 });
  }
}
