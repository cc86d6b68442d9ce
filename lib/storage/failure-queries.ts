/**
 * The per-number failure budget (NIST SP 800-63B: at most 100 consecutive failed attempts, then
 * disable). A fixed-window counter cannot promise "never more than N in any window" (N at the end
 * of one window and N more at the start of the next), so this one counts consecutive failures
 * with no window at all: a correct code clears it, and a spent budget locks the number for a
 * cool-down after which the count starts again.
 *
 * A guess reserves its unit before the code is compared (so N parallel guesses cannot overshoot
 * the budget) and gives it back when it turns out not to be a failure. The conditions are in the
 * WHERE clauses; callers act on affected-row counts only. Times are the kit's clock (epoch ms).
 */
import type { Knex } from 'knex';
import { dialectOf } from './db.js';
import { num } from './sql.js';

export interface FailureState {
  /** Failures (and reservations in flight) since the last success or lock. */
  readonly failures: number;
  /** Epoch ms until which the number is disabled, or null. */
  readonly lockedUntil: number | null;
}

export async function readFailureState(knex: Knex, table: string, phone: string): Promise<FailureState | undefined> {
  const row = await knex(table).where({ phone }).first<{ failures: unknown; locked_until: unknown } | undefined>('failures', 'locked_until');
  if (row === undefined) return undefined;
  return { failures: num(row.failures), lockedUntil: row.locked_until === null ? null : num(row.locked_until) };
}

function increment(knex: Knex, table: string, phone: string, max: number, now: number): Promise<number> {
  return knex(table)
    .where({ phone })
    .whereNull('locked_until')
    .andWhere('failures', '<', max)
    .update({ failures: knex.raw('?? + 1', ['failures']), updated_at: now });
}

/** The first failure of a number: inserts its row with one unit taken. True if this call inserted it. */
async function insertFirst(knex: Knex, table: string, phone: string, now: number): Promise<boolean> {
  const dialect = dialectOf(knex);
  if (dialect === 'mysql') {
    const [header] = (await knex.raw('INSERT IGNORE INTO ?? (`phone`, `failures`, `locked_until`, `updated_at`) VALUES (?, 1, NULL, ?)', [table, phone, now])) as [{ affectedRows?: number }];
    return header.affectedRows === 1;
  }
  const result: { rowCount?: number | null; changes?: number } = await knex.raw('INSERT INTO ?? ("phone", "failures", "locked_until", "updated_at") VALUES (?, 1, NULL, ?) ON CONFLICT ("phone") DO NOTHING', [table, phone, now]);
  return (dialect === 'postgres' ? result.rowCount : result.changes) === 1;
}

/**
 * Charges a failure that already happened (its attempt was counted on the request first): like a
 * reservation, but never refused by the count; false only while the number is locked.
 */
export async function chargeFailure(knex: Knex, table: string, phone: string, now: number, known: 'absent' | 'present' | 'unknown' = 'unknown'): Promise<boolean> {
  return reserveFailure(knex, table, phone, NO_CAP, now, known);
}

/** Stands for "no cap": within every INT column (a JS MAX_SAFE_INTEGER binding overflows PostgreSQL's). */
const NO_CAP = 2_000_000_000;

/**
 * Takes one unit of the budget for a guess about to be compared. False when the number is locked
 * or its budget is spent (counting guesses still in flight). `known` is what the caller's lookup
 * saw: with it, the common case is one statement (insert the first unit, or increment).
 */
export async function reserveFailure(knex: Knex, table: string, phone: string, max: number, now: number, known: 'absent' | 'present' | 'unknown' = 'unknown'): Promise<boolean> {
  if (known === 'absent' && (await insertFirst(knex, table, phone, now))) return true;
  // A concurrent success may delete the row between our statements: then start over (bounded).
  for (let round = 0; round < 5; round += 1) {
    if ((await increment(knex, table, phone, max, now)) === 1) return true;
    const state = await readFailureState(knex, table, phone);
    if (state === undefined) {
      if (await insertFirst(knex, table, phone, now)) return true;
    } else if (state.lockedUntil !== null && state.lockedUntil <= now) {
      // The cool-down is over: the count starts again.
      await knex(table).where({ phone }).whereNotNull('locked_until').andWhere('locked_until', '<=', now).update({ failures: 0, locked_until: null, updated_at: now });
    } else if (state.lockedUntil !== null || state.failures >= max) {
      return false;
    }
    // Otherwise the row appeared (or changed) under us: try the increment again.
  }
  return false;
}

/** After a failure: locks the number when its budget is spent. True for the one call that locked it. */
export async function lockWhenSpent(knex: Knex, table: string, phone: string, max: number, lockedUntil: number, now: number): Promise<boolean> {
  const n = await knex(table).where({ phone }).whereNull('locked_until').andWhere('failures', '>=', max).update({ locked_until: lockedUntil, updated_at: now });
  return n === 1;
}

/** Gives back a reservation whose guess was not a failure (right code lost a race, request gone, provider error). */
export async function releaseFailure(knex: Knex, table: string, phone: string, now: number): Promise<void> {
  await knex(table)
    .where({ phone })
    .andWhere('failures', '>', 0)
    .update({ failures: knex.raw('?? - 1', ['failures']), updated_at: now });
}

/** A correct code: earlier failures are forgiven (NIST: "SHOULD disregard" them after a success). */
export async function clearFailures(knex: Knex, table: string, phone: string): Promise<void> {
  await knex(table).where({ phone }).del();
}
