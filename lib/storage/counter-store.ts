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
 * rows written by either are read the same way. The table comes from the kit's migration
 * `0002_otp_limits`; nothing here creates tables or starts timers.
 *
 * Windows are fixed and run on this process's wall clock (`Date.now()`), not on the kit's
 * injectable clock.
 */
import type { Knex } from 'knex';
import { createBatcher, retryConflicts } from './batcher.js';
import { dialectOf, supportsReturning } from './db.js';
import { sweepExpiredCounters } from './counter-sweep.js';
import { num } from './sql.js';

export interface CounterState {
  /** Units counted in the current window (more than `max` once blocked). */
  readonly consumed: number;
  /** Milliseconds until the window (or block) ends. */
  readonly msLeft: number;
}

export type TakeResult = { readonly allowed: true; readonly consumed: number } | { readonly allowed: false; readonly consumed: number; readonly msLeft: number };

/** One named window counter: at most `max` units per `windowSeconds` per key. */
export interface Counter {
  readonly name: string;
  readonly max: number;
  readonly windowSeconds: number;
  /** Counts one unit; refused once the key is over `max` in its window. */
  take(key: string): Promise<TakeResult>;
  /** Counts units without refusing (e.g. a failure that already happened). */
  add(key: string, units?: number): Promise<CounterState>;
  /** The key's state, or undefined when it has nothing counted in a live window. */
  peek(key: string): Promise<CounterState | undefined>;
  /** Marks the key as over its limit for `seconds` (the window restarts afterwards). */
  block(key: string, seconds: number): Promise<void>;
  /** Forgets the key. */
  reset(key: string): Promise<void>;
}

export interface CounterTake {
  readonly counter: Counter;
  readonly key: string;
}

export interface CounterStore {
  counter(name: string, max: number, windowSeconds: number): Counter;
  /**
   * Counts one unit on each counter; results in the same order. Where the database has RETURNING,
   * the takes of all concurrent requests share one statement (group commit, lib/storage/batcher.ts);
   * elsewhere (MySQL) the request's takes are one upsert and one read.
   */
  takeAll(takes: readonly CounterTake[]): Promise<TakeResult[]>;
  /** Gives back one unit of each (a request refused by an earlier counter of its batch). */
  giveBack(takes: readonly CounterTake[]): Promise<void>;
  /** Row state as read from `points`/`expire` columns: undefined unless live. */
  stateOf(points: unknown, expire: unknown, nowMs: number): CounterState | undefined;
  /** Forgets several counters' keys in one statement. */
  forget(takes: readonly CounterTake[]): Promise<void>;
  /** Deletes rows whose window ended more than an hour ago. Returns the number deleted. */
  sweep(nowMs: number): Promise<number>;
}

interface Upsert {
  readonly rowKey: string;
  readonly points: number;
  readonly expire: number;
}

type Row = { key: unknown; points: unknown; expire: unknown };

/** How long a statement shared by several takes may wait for a row lock before it is split. */
const BATCH_LOCK_WAIT_MS = 500;

/** The row key of a counter's key: `<name>:<key>`, the layout rate-limiter-flexible used. */
export const counterRowKey = (name: string, key: string): string => `${name}:${key}`;

export interface CounterStoreOptions {
  /** Share one statement among the takes of concurrent requests (group commit). @default true */
  readonly batching?: boolean;
}

export function createCounterStore(knex: Knex, table: string, options: CounterStoreOptions = {}): CounterStore {
  const batching = options.batching ?? true;
  const dialect = dialectOf(knex);
  const canReturn = (): Promise<boolean> => supportsReturning(knex);

  /**
   * The upsert: a row whose window ended starts a new one with the given points and expiry; a live
   * row adds the points and keeps its expiry. `force` (a block) sets both whatever the row holds.
   * One string per row count and shape, built once; the current time is a binding (twice).
   */
  const upserts = new Map<string, string>();
  const q = (name: string): string => (dialect === 'mysql' ? `\`${name}\`` : `"${name}"`);
  function upsertSql(count: number, force: boolean, withReturning: boolean): string {
    const cacheKey = `${count}:${force}:${withReturning}`;
    const cached = upserts.get(cacheKey);
    if (cached !== undefined) return cached;
    const values = Array.from({ length: count }, () => '(?, ?, ?)').join(', ');
    let sql: string;
    if (dialect === 'mysql') {
      // Assignments run left to right: `points` must be set while `expire` is still the old one.
      const ended = force ? '(TRUE OR `expire` <= ?)' : '(`expire` IS NOT NULL AND `expire` <= ?)';
      sql =
        `INSERT INTO ${q(table)} (\`key\`, \`points\`, \`expire\`) VALUES ${values} ON DUPLICATE KEY UPDATE ` +
        `\`points\` = IF(${ended}, VALUES(\`points\`), \`points\` + VALUES(\`points\`)), ` +
        `\`expire\` = IF(${ended}, VALUES(\`expire\`), \`expire\`)` +
        (withReturning ? ' RETURNING `key`, `points`, `expire`' : '');
    } else {
      const ended = force ? '(TRUE OR t."expire" <= ?)' : '(t."expire" IS NOT NULL AND t."expire" <= ?)';
      sql =
        `INSERT INTO ${q(table)} AS t ("key", "points", "expire") VALUES ${values} ON CONFLICT ("key") DO UPDATE SET ` +
        `"points" = CASE WHEN ${ended} THEN excluded."points" ELSE t."points" + excluded."points" END, ` +
        `"expire" = CASE WHEN ${ended} THEN excluded."expire" ELSE t."expire" END ` +
        'RETURNING "key", "points", "expire"';
    }
    upserts.set(cacheKey, sql);
    return sql;
  }

  /**
   * Runs one upsert of several rows; answers each row's state after it, by row key. Rows go in key
   * order, so concurrent multi-row upserts lock them in the same order (no deadlock between them).
   */
  async function upsert(unsorted: readonly Upsert[], force = false, lockWaitMs?: number): Promise<Map<string, Row>> {
    const rows = [...unsorted].sort((x, y) => (x.rowKey < y.rowKey ? -1 : x.rowKey > y.rowKey ? 1 : 0));
    const now = Date.now();
    const withReturning = await canReturn();
    const sql = upsertSql(rows.length, force, withReturning);
    const bindings: Knex.RawBinding[] = [];
    for (const r of rows) bindings.push(r.rowKey, r.points, r.expire);
    bindings.push(Math.trunc(now), Math.trunc(now));
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
        const [read] = (await knex.raw('SELECT `key`, `points`, `expire` FROM ?? WHERE `key` IN (' + rows.map(() => '?').join(', ') + ')', [table, ...rows.map((r) => r.rowKey)])) as [Row[]];
        out = read;
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

  const rowKey = (counter: Counter, key: string): string => counterRowKey(counter.name, key);

  function resultOf(counter: Counter, row: Row | undefined, now: number): TakeResult {
    // A row deleted in between (a reset by a success) counts as a fresh window.
    const state = row === undefined ? undefined : stateOf(row.points, row.expire, now);
    const consumed = state?.consumed ?? 1;
    if (consumed <= counter.max) return { allowed: true, consumed };
    return { allowed: false, consumed, msLeft: state?.msLeft ?? 0 };
  }

  interface BatchedTake {
    readonly rowKey: string;
    readonly max: number;
    readonly windowMs: number;
  }

  /**
   * The takes of a batch: one row per distinct key with as many points as it has takes, then each
   * take gets its own place in the count (the row's total minus the takes after it), exactly what
   * one take after another would have seen.
   */
  async function runTakes(items: readonly BatchedTake[]): Promise<TakeResult[]> {
    const now = Date.now();
    const perKey = new Map<string, Upsert>();
    for (const item of items) {
      const row = perKey.get(item.rowKey);
      perKey.set(item.rowKey, { rowKey: item.rowKey, points: (row?.points ?? 0) + 1, expire: row?.expire ?? now + item.windowMs });
    }
    // A row locked elsewhere (an operator's transaction, another instance) must not stall the
    // other rows of the batch, nor every send behind them (audit 19.6): a shared statement waits at
    // most BATCH_LOCK_WAIT_MS, then the batcher runs each take alone and only the locked one waits.
    const rows = [...perKey.values()];
    const states = await upsert(rows, false, rows.length > 1 ? BATCH_LOCK_WAIT_MS : undefined);
    const after = Date.now();
    const placed = new Map<string, number>();
    return items.map((item) => {
      const place = placed.get(item.rowKey) ?? 0;
      placed.set(item.rowKey, place + 1);
      const takes = perKey.get(item.rowKey)?.points ?? 1;
      const state = states.get(item.rowKey);
      const live = state === undefined ? undefined : stateOf(state.points, state.expire, after);
      // A row gone in between (a reset by a success) counts as a fresh window.
      const consumed = live === undefined ? place + 1 : live.consumed - takes + 1 + place;
      if (consumed <= item.max) return { allowed: true, consumed };
      return { allowed: false, consumed, msLeft: live?.msLeft ?? 0 };
    });
  }

  // Up to 350 takes a statement (a send takes up to 7 counters, so 50 sends, like the request
  // batches): at most 1,052 bindings, well within every driver's limit (SQLite's is 32,766).
  const takes = createBatcher(runTakes, { maxBatch: 350 });

  async function takeAll(wanted: readonly CounterTake[]): Promise<TakeResult[]> {
    if (wanted.length === 0) return [];
    if (batching && (await canReturn())) {
      return Promise.all(wanted.map(({ counter, key }) => takes.add({ rowKey: rowKey(counter, key), max: counter.max, windowMs: counter.windowSeconds * 1000 })));
    }
    const now = Date.now();
    const rows = wanted.map(({ counter, key }) => ({ rowKey: rowKey(counter, key), points: 1, expire: now + counter.windowSeconds * 1000 }));
    const states = await upsert(rows);
    const after = Date.now();
    return wanted.map(({ counter }, i) => resultOf(counter, states.get((rows[i] as Upsert).rowKey), after));
  }

  async function resetRows(rowKeys: readonly string[]): Promise<void> {
    if (rowKeys.length > 0) await knex(table).whereIn('key', rowKeys).del();
  }

  const store: CounterStore = {
    counter(name, max, windowSeconds) {
      const counter: Counter = {
        name,
        max,
        windowSeconds,
        async take(key) {
          return (await takeAll([{ counter, key }]))[0] as TakeResult;
        },
        async add(key, units = 1) {
          const k = rowKey(counter, key);
          const row = (await upsert([{ rowKey: k, points: units, expire: Date.now() + windowSeconds * 1000 }])).get(k);
          return stateOf(row?.points, row?.expire, Date.now()) ?? { consumed: units, msLeft: windowSeconds * 1000 };
        },
        async peek(key) {
          const row: Row | undefined = await knex(table).where('key', rowKey(counter, key)).first('points', 'expire');
          return row === undefined ? undefined : stateOf(row.points, row.expire, Date.now());
        },
        async block(key, seconds) {
          await upsert([{ rowKey: rowKey(counter, key), points: max + 1, expire: Date.now() + seconds * 1000 }], true);
        },
        async reset(key) {
          await resetRows([rowKey(counter, key)]);
        },
      };
      return counter;
    },
    takeAll,
    async giveBack(takes) {
      if (takes.length === 0) return;
      // A window whose last unit is given back ends with it, so a voided take never moves the start
      // of the next real window earlier (audit 23.3). `expire` is assigned first: MySQL evaluates
      // assignments left to right, and it must see the old `points` as the others do.
      await knex(table)
        .whereIn('key', takes.map(({ counter, key }) => rowKey(counter, key)))
        .andWhere('points', '>', 0)
        .update({ expire: knex.raw('CASE WHEN ?? <= 1 THEN ? ELSE ?? END', ['points', Math.trunc(Date.now()), 'expire']), points: knex.raw('?? - 1', ['points']) });
    },
    stateOf,
    async forget(list) {
      await resetRows(list.map(({ counter, key }) => rowKey(counter, key)));
    },
    sweep: (nowMs) => sweepExpiredCounters(knex, table, nowMs, BATCH_LOCK_WAIT_MS),
  };
  return store;
}
