/**
 * Fixed-window counters in the database, shared by every process of the app. All the counters a
 * request takes at one point go to the database as ONE multi-row upsert whose window reset is in
 * SQL, so parallel requests in any number of processes never both see the last free unit; with
 * RETURNING, the takes of all requests in flight share that upsert (group commit, `runTakes`):
 *
 * - MariaDB: `INSERT … ON DUPLICATE KEY UPDATE … RETURNING` (1 statement);
 * - MySQL (no RETURNING): the same upsert, then one `SELECT … WHERE key IN (…)` (2 statements);
 * - PostgreSQL and SQLite: `INSERT … ON CONFLICT (key) DO UPDATE … RETURNING` (1 statement).
 *
 * This replaced rate-limiter-flexible's stores, which run `BEGIN; upsert; SELECT; COMMIT` per
 * counter (4 round trips each, 20 per send): see docs/security.md and docs/benchmarks.md. The row
 * layout and semantics are the ones rate-limiter-flexible used (`<name>:<key>`, points, expire in
 * epoch ms; over the limit once points > max; a block sets points to max + 1 until it ends), so
 * rows written by either are read the same way. A send's per-number counters share one row in
 * slots (migration 0013, lib/storage/counter-sql.ts): one insert for a new number instead of three.
 * The table comes from the kit's migrations; nothing here creates tables or starts timers.
 *
 * Windows are fixed and run on this process's wall clock (`Date.now()`), not on the kit's
 * injectable clock.
 */
import type { Knex } from 'knex';
import { createBatcher, REQUESTS_PER_BATCH, retryConflicts } from './batcher.js';
import { dialectOf, supportsReturning } from './db.js';
import { giveBackUnits, resetSlots, sweepExpiredCounters } from './counter-writes.js';
import { num, statement } from './sql.js';
import { COUNTER_SLOTS } from './migration-counter-slots.js';
import { addToSlot, emptyUpsert, expireColumn, HINT_UNIT_MS, lockHintSql, MADE_COLUMNS, markMade, NOW_BINDINGS, pointsColumn, UPSERT_COLUMNS, upsertParts, upsertText, type CounterSlot, type Upsert } from './counter-sql.js';

import type { Counter, CounterState, CounterStore, CounterTake, MadeTake, TakeResult } from './counter-types.js';

export type { CounterSlot } from './counter-sql.js';
export type { Counter, CounterState, CounterStore, CounterTake, MadeRecord, MadeTake, TakeResult } from './counter-types.js';

type Row = Record<string, unknown> & { key: unknown };

/**
 * The most counters one send takes: sends per IP, the number's three slots (cooldown, switch gap,
 * sends per number), sends per range, per country, the daily budget and the conversion breaker;
 * and its request record (`takeMaking`). test/storage/group-commit.test.ts fails if a send takes
 * more (its takes would need two statements).
 */
const MAX_TAKES_PER_REQUEST = 9;

/** How long a statement shared by several takes may wait for a row lock before it is split. */
const BATCH_LOCK_WAIT_MS = 500;

/** The row key of a counter's key: `<name>:<key>`, the layout rate-limiter-flexible used. */
export const counterRowKey = (name: string, key: string): string => `${name}:${key}`;

export interface CounterStoreOptions {
  /** Share one statement among the takes of concurrent requests (group commit). @default true */
  readonly batching?: boolean;
  /** False: never use RETURNING, as on MySQL (tests run MySQL's path on MariaDB). @default detected */
  readonly returning?: false;
}

export function createCounterStore(knex: Knex, table: string, options: CounterStoreOptions = {}): CounterStore {
  const batching = options.batching ?? true;
  const dialect = dialectOf(knex);
  const canReturn = (): Promise<boolean> => (options.returning === false ? Promise.resolve(false) : supportsReturning(knex));
  /** Which slot each counter name uses: a name's rows are either plain or slotted, never both. */
  const slotOfName = new Map<string, CounterSlot>();

  /**
   * Runs one upsert of several rows; answers each row after it, by row key. Rows go in key
   * order, so concurrent multi-row upserts lock them in the same order (no deadlock between them).
   */
  async function upsert(unsorted: readonly Upsert[], force = false, lockWaitMs?: number): Promise<Map<string, Row>> {
    const rows = [...unsorted].sort((x, y) => (x.rowKey < y.rowKey ? -1 : x.rowKey > y.rowKey ? 1 : 0));
    const now = Math.trunc(Date.now());
    const withReturning = await canReturn();
    // The parts are built once per shape; the rows' texts are chosen per row (a record or not).
    const { sql: parts } = statement(knex, `counter-upsert\0${table}\0${force}\0${withReturning}`, (q, d) => upsertParts(q, d, table, force, withReturning));
    const sql = upsertText(parts, rows);
    const bindings: Knex.RawBinding[] = [];
    for (const r of rows) {
      bindings.push(r.rowKey, r.points[0] ?? 0, r.expire[0] ?? null);
      for (const slot of COUNTER_SLOTS) bindings.push(r.points[slot] ?? 0, r.expire[slot] ?? null);
    }
    for (let i = 0; i < NOW_BINDINGS; i += 1) bindings.push(now);
    const result: unknown = await retryConflicts(() => {
      const query = knex.raw(sql, bindings);
      // Cancelled (rolled back) past the wait, which frees the rows it already locked; see runTakes.
      if (lockWaitMs !== undefined && dialect !== 'sqlite') query.timeout(lockWaitMs, { cancel: true });
      return Promise.resolve(query);
    });
    let out: Row[];
    if (dialect === 'mysql') {
      if (withReturning) out = (result as [Row[]])[0];
      else {
        // Not atomic with the upsert: a neighbour's increment may show (errs on the strict side).
        out = await knex<Row>(table).whereIn('key', rows.map((r) => r.rowKey)).select([...UPSERT_COLUMNS, ...MADE_COLUMNS]);
      }
    } else if (dialect === 'postgres') out = (result as { rows: Row[] }).rows;
    else out = result as Row[];
    return new Map(out.map((r) => [String(r.key), r]));
  }

  const stateOf = (points: unknown, expire: unknown, nowMs: number): CounterState | undefined => {
    if (points === null || points === undefined) return undefined;
    if (expire !== null && expire !== undefined && num(expire) <= nowMs) return undefined;
    return { consumed: num(points), msLeft: expire === null || expire === undefined ? Number.MAX_SAFE_INTEGER : Math.max(0, num(expire) - nowMs) };
  };

  /** One slot's state in a row as read back (slot 0: the row's own columns). */
  const slotState = (row: Row | undefined, slot: CounterSlot, nowMs: number): CounterState | undefined => {
    if (row === undefined) return undefined;
    const points = row[pointsColumn(slot)];
    // An untouched slot holds 0 points: nothing counted.
    if (slot !== 0 && (points === null || points === undefined || num(points) <= 0)) return undefined;
    return stateOf(points, row[expireColumn(slot)], nowMs);
  };

  const rowKey = (counter: Counter, key: string): string => counterRowKey(counter.name, key);

  /** Whether a take of `slot` in `row` reports the row's lock hint: a slot of a row whose hint has not ended. */
  const hintedRow = (row: Row | undefined, slot: CounterSlot, now: number): boolean =>
    slot !== 0 && row !== undefined && row.points !== null && row.points !== undefined && num(row.points) * HINT_UNIT_MS > now;

  /** A take's answer from its count, with the row's lock hint where there is one. */
  function answer(consumed: number, max: number, msLeft: number, hinted: boolean): TakeResult {
    const hint = hinted ? { hinted: true as const } : {};
    return consumed <= max ? { allowed: true, consumed, ...hint } : { allowed: false, consumed, msLeft, ...hint };
  }

  function resultOf(counter: Counter, row: Row | undefined, now: number): TakeResult {
    // A row deleted in between (a reset by a success) counts as a fresh window.
    const state = slotState(row, counter.slot, now);
    return answer(state?.consumed ?? 1, counter.max, state?.msLeft ?? 0, hintedRow(row, counter.slot, now));
  }

  interface BatchedTake {
    readonly rowKey: string;
    readonly slot: CounterSlot;
    readonly max: number;
    readonly windowMs: number;
    /** Not a take: the record of a request made for the row's number, kept `windowMs` (`takeMaking`). */
    readonly made?: true;
  }

  /**
   * What a row's request record said before this statement: the first record of a key in the
   * statement gets the time since the one before (database clock; null when there was none), a
   * later one of the same statement 0. Undefined when the row was not read back atomically.
   */
  function madeAnswer(row: Row | undefined, first: boolean): TakeResult {
    const at = row?.made_at;
    if (at === null || at === undefined) return { allowed: true, consumed: 0 };
    const before = row?.made_before;
    const sinceMs = !first ? 0 : before === null || before === undefined ? null : num(at) - num(before);
    return { allowed: true, consumed: 0, made: { sinceMs } };
  }

  /** One upsert row per distinct key: a point per take in its slot, and the request records. */
  function upsertRows(items: readonly BatchedTake[], now: number): Map<string, Upsert> {
    const perKey = new Map<string, Upsert>();
    for (const item of items) {
      let row = perKey.get(item.rowKey);
      if (row === undefined) perKey.set(item.rowKey, (row = emptyUpsert(item.rowKey)));
      if (item.made === true) markMade(row, now + item.windowMs);
      else addToSlot(row, item.slot, 1, now + item.windowMs);
    }
    return perKey;
  }

  /**
   * The takes of a batch: one row per distinct key with as many points per slot as it has takes,
   * then each take gets its own place in the count (the slot's total minus the takes after it),
   * exactly what one take after another would have seen.
   */
  async function runTakes(items: readonly BatchedTake[]): Promise<TakeResult[]> {
    const now = Date.now();
    const perKey = upsertRows(items, now);
    // A row locked elsewhere (an operator's transaction, another instance) must not stall the
    // other rows of the batch, nor every send behind them (audit 19.6): a shared statement waits at
    // most BATCH_LOCK_WAIT_MS, then the batcher runs each take alone and only the locked one waits.
    const rows = [...perKey.values()];
    const states = await upsert(rows, false, rows.length > 1 ? BATCH_LOCK_WAIT_MS : undefined);
    const after = Date.now();
    const placed = new Map<string, number>();
    return items.map((item) => {
      if (item.made === true) {
        const first = !placed.has(`m${item.rowKey}`);
        placed.set(`m${item.rowKey}`, 1);
        return madeAnswer(states.get(item.rowKey), first);
      }
      const placeKey = `${item.slot}${item.rowKey}`;
      const place = placed.get(placeKey) ?? 0;
      placed.set(placeKey, place + 1);
      const takes = perKey.get(item.rowKey)?.points[item.slot] ?? 1;
      const row = states.get(item.rowKey);
      const live = slotState(row, item.slot, after);
      // A row gone in between (a reset by a success) counts as a fresh window.
      const consumed = live === undefined ? place + 1 : live.consumed - takes + 1 + place;
      return answer(consumed, item.max, live?.msLeft ?? 0, hintedRow(row, item.slot, after));
    });
  }

  // A request's takes are one unit (`addAll`), never split between statements. Up to
  // REQUESTS_PER_BATCH sends of MAX_TAKES_PER_REQUEST takes a statement: at most 400 rows of 9
  // values, well within every driver's limit (SQLite's is 32,766).
  const takes = createBatcher(runTakes, { maxBatch: REQUESTS_PER_BATCH * MAX_TAKES_PER_REQUEST });

  /** One row's upsert for a single counter. */
  function single(counter: Counter, key: string, points: number, expire: number): Upsert {
    const row = emptyUpsert(rowKey(counter, key));
    addToSlot(row, counter.slot, points, expire);
    return row;
  }

  async function takeAll(wanted: readonly CounterTake[], made?: MadeTake): Promise<TakeResult[]> {
    if (wanted.length === 0 && made === undefined) return [];
    const items: BatchedTake[] = wanted.map(({ counter, key }) => ({ rowKey: rowKey(counter, key), slot: counter.slot, max: counter.max, windowMs: counter.windowSeconds * 1000 }));
    if (made !== undefined) items.push({ rowKey: made.rowKey, slot: 0, max: Number.MAX_SAFE_INTEGER, windowMs: made.keepMs, made: true });
    const returning = await canReturn();
    if (batching && returning) return takes.addAll(items);
    const now = Date.now();
    const perKey = upsertRows(items, now);
    const states = await upsert([...perKey.values()]);
    const after = Date.now();
    const results = wanted.map(({ counter, key }) => resultOf(counter, states.get(rowKey(counter, key)), after));
    // Without RETURNING (MySQL) the record is read after the upsert, not with it: a neighbour's may show.
    if (made !== undefined) results.push(returning ? madeAnswer(states.get(made.rowKey), true) : { allowed: true, consumed: 0 });
    return results;
  }

  /** Row keys of the takes, per slot. */
  const keysBySlot = (list: readonly CounterTake[]): Map<CounterSlot, string[]> => {
    const out = new Map<CounterSlot, string[]>();
    for (const { counter, key } of list) {
      const keys = out.get(counter.slot);
      if (keys === undefined) out.set(counter.slot, [rowKey(counter, key)]);
      else keys.push(rowKey(counter, key));
    }
    return out;
  };
  const resetTakes = (list: readonly CounterTake[]): Promise<void> => resetSlots(knex, table, keysBySlot(list));

  const store: CounterStore = {
    counter(name, max, windowSeconds, slot = 0) {
      const known = slotOfName.get(name);
      // A row is plain or slotted: the upsert tells them apart by the row's own points (0 when slotted).
      if (known !== undefined && (known === 0) !== (slot === 0)) throw new Error(`counter "${name}" is used both with and without a slot`);
      slotOfName.set(name, slot);
      const counter: Counter = {
        name,
        max,
        windowSeconds,
        slot,
        async take(key) {
          return (await takeAll([{ counter, key }]))[0] as TakeResult;
        },
        async add(key, units = 1) {
          const k = rowKey(counter, key);
          const row = (await upsert([single(counter, key, Math.max(1, units), Date.now() + windowSeconds * 1000)])).get(k);
          return slotState(row, slot, Date.now()) ?? { consumed: units, msLeft: windowSeconds * 1000 };
        },
        async peek(key) {
          const row: Row | undefined = await knex(table).where('key', rowKey(counter, key)).first('key', pointsColumn(slot), expireColumn(slot));
          return slotState(row, slot, Date.now());
        },
        async block(key, seconds) {
          await upsert([single(counter, key, max + 1, Date.now() + seconds * 1000)], true);
        },
        async reset(key) {
          await resetTakes([{ counter, key }]);
        },
      };
      return counter;
    },
    takeAll: (list) => takeAll(list),
    async takeMaking(list, made) {
      const answers = await takeAll(list, made);
      return { results: answers.slice(0, list.length), made: answers[list.length]?.made };
    },
    async giveBack(list) {
      if (list.length > 0) await giveBackUnits(knex, table, keysBySlot(list));
    },
    stateOf,
    async forget(list) {
      await resetTakes(list);
    },
    sweep: (nowMs) => sweepExpiredCounters(knex, table, nowMs, BATCH_LOCK_WAIT_MS),
    async hintLock(name, key, untilMs) {
      const { sql } = statement(knex, `counter-hint\0${table}`, (q, d) => lockHintSql(q, d, table));
      await retryConflicts(() => knex.raw(sql, [counterRowKey(name, key), Math.ceil(untilMs / HINT_UNIT_MS), Math.trunc(untilMs)]));
    },
  };
  return store;
}
