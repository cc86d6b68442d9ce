/**
 * The lock rows of numbers, read in one statement: the counter rows (`<name>:<phone>`) that lock a
 * number, and its failure-budget row. The row-key convention is the counter store's; callers name
 * counters, never keys.
 */
import type { Knex } from 'knex';
import { counterRowKey } from './counter-store.js';
import { dialectOf } from './db.js';
import type { FailureState } from './failure-queries.js';
import type { OtpTableNames } from './migrations.js';
import { num, rowsOf } from './sql.js';

/** A counter row as stored (read with the counter store's `stateOf`). */
export interface CounterRow {
  readonly points: unknown;
  readonly expire: unknown;
}

/** The lock rows of a number: its counter rows by counter name, and its failure-budget row. */
export interface LockState {
  readonly counters: ReadonlyMap<string, CounterRow>;
  readonly failures: FailureState | undefined;
}

/** One number's lock rows to read: the rows of the named counters, and its failure-budget row. */
export interface LockRead {
  readonly phone: string;
  readonly counters: readonly string[];
}

/**
 * The lock rows of several numbers in one statement (the sends of a batch, or a verify that found
 * no request): the named counters' rows of each phone and (with `failureBudget`) their
 * failure-budget rows. Answers one state per read, in order.
 */
export async function readLockStates(knex: Knex, t: OtpTableNames, failureBudget: boolean, reads: readonly LockRead[]): Promise<LockState[]> {
  const keys = [...new Set(reads.flatMap((r) => r.counters.map((name) => counterRowKey(name, r.phone))))];
  const phones = failureBudget ? [...new Set(reads.map((r) => r.phone))] : [];
  const parts: string[] = [];
  const bindings: Knex.RawBinding[] = [];
  if (keys.length > 0) {
    parts.push(`SELECT ?? AS k, ?? AS a, ?? AS b FROM ?? WHERE ?? IN (${keys.map(() => '?').join(', ')})`);
    bindings.push('key', 'points', 'expire', t.limits, 'key', ...keys);
  }
  if (phones.length > 0) {
    parts.push(`SELECT ?? AS k, ?? AS a, ?? AS b FROM ?? WHERE ?? IN (${phones.map(() => '?').join(', ')})`);
    bindings.push('phone', 'failures', 'locked_until', t.failures, 'phone', ...phones);
  }
  const counterRows = new Map<string, CounterRow>();
  const failureRows = new Map<string, FailureState>();
  if (parts.length > 0) {
    const result: unknown = await knex.raw(parts.join(' UNION ALL '), bindings);
    for (const row of rowsOf(dialectOf(knex), result)) {
      const k = String(row.k);
      // A phone starts with "+", a counter row key with its counter name: the two never collide.
      if (k.startsWith('+')) failureRows.set(k, { failures: num(row.a), lockedUntil: row.b === null ? null : num(row.b) });
      else counterRows.set(k, { points: row.a, expire: row.b });
    }
  }
  return reads.map((read) => {
    const counters = new Map<string, CounterRow>();
    for (const name of read.counters) {
      const row = counterRows.get(counterRowKey(name, read.phone));
      if (row !== undefined) counters.set(name, row);
    }
    return { counters, failures: failureBudget ? failureRows.get(read.phone) : undefined };
  });
}
