/**
 * The counter store's upsert, as SQL parts built once per shape and joined per statement (a row that
 * records a request has its own text: lib/storage/counter-store.ts). A row is either a
 * plain counter (its own `points`/`expire`) or a slotted row: several counters of one key in slots
 * 1-3 (`points_<n>`/`expire_<n>`, migration 0013), its own `points` 0 and `expire` the latest end
 * of its slots (what the sweep and `purge()` read).
 *
 * Per counter: a row whose window ended starts a new one with the given points and expiry; a live
 * one adds the points and keeps its expiry; `force` (a block) sets both whatever the row holds. A
 * slot the row's values leave at 0 points is not touched. The current time is a binding, once per
 * `?` in the update (`NOW_BINDINGS`).
 */
import type { Dialect } from './db.js';
import type { Quote } from './sql.js';
import { COUNTER_SLOTS } from './migration-counter-slots.js';

export type CounterSlot = 0 | (typeof COUNTER_SLOTS)[number];

/** One row of an upsert: points and expiry per slot (index 0: the row's own columns). */
export interface Upsert {
  readonly rowKey: string;
  readonly points: number[];
  readonly expire: Array<number | null>;
  /** The row records a request made for its number (`made_at`, migration 0015). */
  made: boolean;
}

/** An upsert row with nothing in it yet. */
export function emptyUpsert(rowKey: string): Upsert {
  return { rowKey, points: [0, 0, 0, 0], expire: [0, null, null, null], made: false };
}

/**
 * Records a request made for the row's number: `made_at` becomes the database's clock (never
 * earlier than it was) and `made_before` the previous `made_at`. The row's own expiry is raised to
 * `keepUntil`, so the sweep keeps the record while it can matter. Its slots start as ended windows.
 */
export function markMade(row: Upsert, keepUntil: number): void {
  row.made = true;
  row.expire[0] = Math.max(row.expire[0] ?? 0, keepUntil);
  endUnsetSlots(row);
}

/** The columns of a request record, read back with each row (RETURNING, or the read on MySQL). */
export const MADE_COLUMNS = ['made_at', 'made_before'] as const;

/** The database's clock in epoch ms: one clock for every instance (their own clocks may differ). */
export function databaseNowMs(dialect: Dialect): string {
  if (dialect === 'mysql') return 'ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000)';
  if (dialect === 'postgres') return 'CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000 AS BIGINT)';
  return "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";
}

/** Adds `points` to one slot of an upsert row (its window, if the row starts one, ends at `expire`). */
export function addToSlot(row: Upsert, slot: CounterSlot, points: number, expire: number): void {
  row.points[slot] = (row.points[slot] ?? 0) + points;
  const current = row.expire[slot];
  if (current === null || current === undefined || current === 0) row.expire[slot] = expire;
  if (slot === 0) return;
  // A slotted row's own expiry is the latest end of its slots: the sweep reads that one.
  row.expire[0] = Math.max(row.expire[0] ?? 0, expire);
  endUnsetSlots(row);
}

/**
 * A slotted row's untouched slots start as ended windows (0), not NULL: a later take then changes no
 * column's size, so InnoDB updates the row in place (a longer row can cost a page reorganization).
 */
function endUnsetSlots(row: Upsert): void {
  for (const other of COUNTER_SLOTS) if (row.expire[other] === null) row.expire[other] = 0;
}

/** Columns of one upsert row, in order. */
export const UPSERT_COLUMNS = ['key', 'points', 'expire', ...COUNTER_SLOTS.flatMap((s) => [`points_${s}`, `expire_${s}`])] as const;

/** How many times an upsert's SQL takes the current time after its rows' values. */
export const NOW_BINDINGS = 2 + 2 * COUNTER_SLOTS.length;

export const pointsColumn = (slot: CounterSlot): string => (slot === 0 ? 'points' : `points_${slot}`);
export const expireColumn = (slot: CounterSlot): string => (slot === 0 ? 'expire' : `expire_${slot}`);

/** How an upsert's update names a column's old value and the row's new one, and the larger of values. */
function upsertTerms(q: Quote, dialect: Dialect): { old: (c: string) => string; given: (c: string) => string; greatest: string } {
  const mysql = dialect === 'mysql';
  return {
    old: (c) => (mysql ? q(c) : `t.${q(c)}`),
    given: (c) => (mysql ? `VALUES(${q(c)})` : `excluded.${q(c)}`),
    greatest: dialect === 'sqlite' ? 'MAX' : 'GREATEST',
  };
}

/**
 * The upsert's SQL in parts, built once per dialect, table and shape: one text for MySQL's
 * `ON DUPLICATE KEY UPDATE` and for `ON CONFLICT … DO UPDATE` (PostgreSQL, SQLite), built from the
 * old value of a column (`old`), the row's new value (`given`) and a condition (`when`). A statement
 * is `head`, then one of the two row texts per row (`upsertText`), then `tail`.
 */
export interface UpsertParts {
  readonly head: string;
  /** A row that records no request: `made_at` NULL. */
  readonly plainRow: string;
  /** A row that records a request: `made_at` is the database's clock, evaluated for this row only. */
  readonly madeRow: string;
  readonly tail: string;
}

export function upsertParts(q: Quote, dialect: Dialect, table: string, force: boolean, withReturning: boolean): UpsertParts {
  const mysql = dialect === 'mysql';
  const { old, given, greatest } = upsertTerms(q, dialect);
  const when = (cond: string, then: string, otherwise: string): string => (mysql ? `IF(${cond}, ${then}, ${otherwise})` : `CASE WHEN ${cond} THEN ${then} ELSE ${otherwise} END`);
  /** Whether the window in `c` ended (a block ends it whatever it holds); a slot's NULL is an ended window. */
  const ended = (c: string, nullEnded: boolean): string => (force ? `(TRUE OR ${old(c)} <= ?)` : nullEnded ? `(${old(c)} IS NULL OR ${old(c)} <= ?)` : `(${old(c)} IS NOT NULL AND ${old(c)} <= ?)`);
  // MySQL assigns left to right: each `points` column is set while its `expire` is still the old one.
  const sets = [
    `${q('points')} = ${when(ended('expire', false), given('points'), `${old('points')} + ${given('points')}`)}`,
    `${q('expire')} = ${when(`${given('points')} = 0`, `${greatest}(${old('expire')}, ${given('expire')})`, when(ended('expire', false), given('expire'), old('expire')))}`,
    ...COUNTER_SLOTS.flatMap((s) => {
      const [p, e] = [`points_${s}`, `expire_${s}`];
      const untouched = `${given(p)} = 0`;
      return [
        `${q(p)} = ${when(untouched, old(p), when(ended(e, true), given(p), `${old(p)} + ${given(p)}`))}`,
        `${q(e)} = ${when(untouched, old(e), when(ended(e, true), given(e), old(e)))}`,
      ];
    }),
  ];
  // The request record: `made_before` first (MySQL assigns left to right), then `made_at`.
  const made = given('made_at');
  sets.push(
    `${q('made_before')} = CASE WHEN ${made} IS NULL THEN ${old('made_before')} ELSE ${old('made_at')} END`,
    `${q('made_at')} = CASE WHEN ${made} IS NULL THEN ${old('made_at')} ELSE ${greatest}(COALESCE(${old('made_at')}, 0), ${made}) END`,
  );
  // Only a row that records a request carries the clock's expression: parsing it on every row was a
  // tenth of MariaDB's CPU for an upsert of new rows (docs/benchmarks.md).
  const values = UPSERT_COLUMNS.map(() => '?').join(', ');
  const list = [...UPSERT_COLUMNS, 'made_at'].map(q).join(', ');
  const returning = withReturning ? ` RETURNING ${[...UPSERT_COLUMNS, ...MADE_COLUMNS].map(q).join(', ')}` : '';
  return {
    head: mysql ? `INSERT INTO ${q(table)} (${list}) VALUES ` : `INSERT INTO ${q(table)} AS t (${list}) VALUES `,
    plainRow: `(${values}, NULL)`,
    madeRow: `(${values}, ${databaseNowMs(dialect)})`,
    tail: mysql ? ` ON DUPLICATE KEY UPDATE ${sets.join(', ')}${returning}` : ` ON CONFLICT (${q('key')}) DO UPDATE SET ${sets.join(', ')}${returning}`,
  };
}

/** The statement for `rows`, in their order: each row's own text, recording a request or not. */
export function upsertText(parts: UpsertParts, rows: ReadonlyArray<Pick<Upsert, 'made'>>): string {
  return parts.head + rows.map((r) => (r.made ? parts.madeRow : parts.plainRow)).join(', ') + parts.tail;
}

/** Minutes since the epoch: a lock hint's end as a slotted row's own `points` (an INT) holds it. */
export const HINT_UNIT_MS = 60_000;

/**
 * The lock hint of a slotted row (a number's `n:` row, lib/limits/counters.ts): its own `points`,
 * otherwise 0 in a slotted row, holds when the hint ends (in HINT_UNIT_MS), and its own `expire` is
 * raised to at least that end, never lowered, so its slots and the sweep (which reads `expire`) keep
 * what they had. A row that does not exist yet is inserted with ended slots (0), as a take leaves its
 * other slots. Bindings: key, the end in HINT_UNIT_MS, the end in ms. A take's upsert adds 0 to
 * `points` while the row's `expire` is live and sets it to 0 once that has passed.
 */
export function lockHintSql(q: Quote, dialect: Dialect, table: string): string {
  const { old, given, greatest } = upsertTerms(q, dialect);
  const list = UPSERT_COLUMNS.map(q).join(', ');
  const values = `(?, ?, ?, ${COUNTER_SLOTS.map(() => '0, 0').join(', ')})`;
  // COALESCE: SQLite's MAX() of a NULL is NULL.
  const raise = (c: string): string => `${q(c)} = ${greatest}(COALESCE(${old(c)}, 0), ${given(c)})`;
  const sets = `${raise('points')}, ${raise('expire')}`;
  return dialect === 'mysql'
    ? `INSERT INTO ${q(table)} (${list}) VALUES ${values} ON DUPLICATE KEY UPDATE ${sets}`
    : `INSERT INTO ${q(table)} AS t (${list}) VALUES ${values} ON CONFLICT (${q('key')}) DO UPDATE SET ${sets}`;
}
