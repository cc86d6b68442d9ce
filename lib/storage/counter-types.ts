/**
 * The counter store's types (lib/storage/counter-store.ts): a counter, a take and its answer, and
 * the store itself.
 */
import type { CounterSlot } from './counter-sql.js';

export interface CounterState {
  /** Units counted in the current window (more than `max` once blocked). */
  readonly consumed: number;
  /** Milliseconds until the window (or block) ends. */
  readonly msLeft: number;
}

export type TakeResult = ({ readonly allowed: true; readonly consumed: number } | { readonly allowed: false; readonly consumed: number; readonly msLeft: number }) & {
  /** A take of a slot (1-3) whose row carries a live lock hint (`hintLock`); absent otherwise. */
  readonly hinted?: true;
  /** The answer of a request record (`takeMaking`). */
  readonly made?: MadeRecord;
};

/** A request about to be made for a number, recorded on the number's row with the takes (migration 0015). */
export interface MadeTake {
  /** The row (`n:<number>`). */
  readonly rowKey: string;
  /** How long the row is kept for the record's sake. */
  readonly keepMs: number;
}

/** What the number's row recorded before this request. */
export interface MadeRecord {
  /** Milliseconds on the database's clock since the request recorded before, or null when none was. */
  readonly sinceMs: number | null;
}

/** One named window counter: at most `max` units per `windowSeconds` per key. */
export interface Counter {
  readonly name: string;
  readonly max: number;
  readonly windowSeconds: number;
  /** 0: the counter has its own row per key; 1-3: a slot of a row it shares with other counters of the key. */
  readonly slot: CounterSlot;
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
  /** A counter stored under `<name>:<key>`; with a slot (1-3), counters of one name share the key's row. */
  counter(name: string, max: number, windowSeconds: number, slot?: CounterSlot): Counter;
  /**
   * Counts one unit on each counter; results in the same order. Where the database has RETURNING,
   * the takes of all concurrent requests share one statement (group commit, lib/storage/batcher.ts);
   * elsewhere (MySQL) the request's takes are one upsert and one read.
   */
  takeAll(takes: readonly CounterTake[]): Promise<TakeResult[]>;
  /**
   * `takeAll`, recording a request made for a number in the same statement. `made` is what the row
   * recorded before (undefined where that cannot be read with the upsert: MySQL without RETURNING).
   */
  takeMaking(takes: readonly CounterTake[], made: MadeTake): Promise<{ results: TakeResult[]; made: MadeRecord | undefined }>;
  /** Gives back one unit of each (a request refused by an earlier counter of its batch). */
  giveBack(takes: readonly CounterTake[]): Promise<void>;
  /** Row state as read from `points`/`expire` columns: undefined unless live. */
  stateOf(points: unknown, expire: unknown, nowMs: number): CounterState | undefined;
  /** Forgets several counters' keys in one statement. */
  forget(takes: readonly CounterTake[]): Promise<void>;
  /** Deletes rows whose window ended more than an hour ago. Returns the number deleted. */
  sweep(nowMs: number): Promise<number>;
  /**
   * Marks a slotted row (`<name>:<key>`) with a lock hint until `untilMs`: every take of one of its
   * slots answers `hinted` until then (lib/storage/counter-sql.ts, `lockHintSql`).
   */
  hintLock(name: string, key: string, untilMs: number): Promise<void>;
}
