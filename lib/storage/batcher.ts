/**
 * Group commit: statements that many concurrent requests each need (a counter take, a request
 * insert, a "sent" mark) are queued and written as ONE multi-row statement per batch. Every caller
 * still awaits its own item, so nothing is answered before its write is committed: only the round
 * trips and the commits are shared.
 *
 * A batch starts as soon as the event loop is free (`setImmediate`) and at most `maxInFlight`
 * batches run at once; items that arrive meanwhile wait for the next one. With one request at a
 * time a batch holds one item and adds no delay; under load a batch holds what arrived during the
 * previous round trip (graphile-worker batches job completions the same way).
 */

/**
 * Requests per batch at every stage of the send path (counter takes, request inserts, marks). The
 * stages stay in step only if their batches hold the same requests: a request whose counter takes
 * straddle two batches waits for both, and every later stage's batches fragment (with a take cap
 * one send short of this, 50 concurrent sends ran 0.2 statements per send instead of 0.1 and cost
 * 40 % or more CPU in Node and in mysqld; docs/benchmarks.md).
 */
export const REQUESTS_PER_BATCH = 50;

export interface Batcher<T, R> {
  /** Queues one item; resolves with its result once the batch holding it has been written. */
  add(item: T): Promise<R>;
  /**
   * Queues several items as one unit: a batch never splits them unless they alone exceed
   * `maxBatch`. One request's items then share its statement, and stages of a pipeline sized in
   * requests stay in step (a request whose counters straddle two batches waits for both).
   * Resolves with their results in order once all are written; rejects with the first failure.
   */
  addAll(items: readonly T[]): Promise<R[]>;
  /** Resolves once every queued item has been written (or has failed). */
  drain(): Promise<void>;
}

export interface BatcherOptions {
  /** Items per statement (bounded by the database's limit on bindings). */
  readonly maxBatch: number;
  /** Batches running at once. @default 1 */
  readonly maxInFlight?: number;
}

/**
 * A batch that fails is run again item by item (audit 19.2): one bad row (a value too long for its
 * column, a constraint) fails only its own caller, never its neighbours. The failed statement
 * changed nothing, so running its items again is safe.
 */

interface Pending<T, R> {
  readonly item: T;
  /** The last item of its unit (`addAll`), or a lone item: a batch may end after it. */
  readonly unitEnd: boolean;
  resolve(result: R): void;
  reject(error: unknown): void;
}

/**
 * The items of one `addAll` share one promise: each item's answer fills its place, the last one
 * resolves the unit (a promise per item and a Promise.all over them cost more than the statement's
 * share of a send; docs/benchmarks.md).
 */
class UnitItem<T, R> implements Pending<T, R> {
  constructor(
    readonly item: T,
    readonly unitEnd: boolean,
    private readonly unit: Unit<R>,
    private readonly index: number,
  ) {}
  resolve(result: R): void {
    this.unit.answered(this.index, result);
  }
  reject(error: unknown): void {
    this.unit.failed(error);
  }
}

class Unit<R> {
  private readonly results: R[];
  private left: number;
  private settled = false;
  constructor(
    size: number,
    private readonly resolve: (results: R[]) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.results = new Array<R>(size);
    this.left = size;
  }
  answered(index: number, result: R): void {
    this.results[index] = result;
    this.left -= 1;
    if (this.left === 0 && !this.settled) {
      this.settled = true;
      this.resolve(this.results);
    }
  }
  failed(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(error);
  }
}

/**
 * `run` writes one batch and answers one result per item, in order. If it throws, each item is
 * run again alone and fails or succeeds on its own.
 */
export function createBatcher<T, R>(run: (items: readonly T[]) => Promise<readonly R[]>, options: BatcherOptions): Batcher<T, R> {
  const { maxBatch } = options;
  const maxInFlight = options.maxInFlight ?? 1;
  let queue: Pending<T, R>[] = [];
  let inFlight = 0;
  let scheduled = false;
  let idle: Array<() => void> = [];

  let isolating = 0;

  const settleIdle = (): void => {
    if (queue.length > 0 || inFlight > 0 || isolating > 0) return;
    const waiting = idle;
    idle = [];
    for (const done of waiting) done();
  };

  function schedule(): void {
    if (scheduled || queue.length === 0 || inFlight >= maxInFlight) return;
    scheduled = true;
    setImmediate(flush);
  }

  function flush(): void {
    scheduled = false;
    while (queue.length > 0 && inFlight < maxInFlight) {
      const batch = queue.slice(0, unitCut(queue, maxBatch));
      queue = queue.slice(batch.length);
      inFlight += 1;
      void runBatch(batch);
    }
  }

  /** Each item of a failed batch in a statement of its own, in parallel (the pool bounds them). */
  async function runAlone(batch: readonly Pending<T, R>[]): Promise<void> {
    await Promise.all(
      batch.map(async (p) => {
        try {
          const results = await run([p.item]);
          if (results.length !== 1) throw new Error(`batch answered ${results.length} results for 1 item`);
          p.resolve(results[0] as R);
        } catch (error) {
          p.reject(error);
        }
      }),
    );
  }

  async function runBatch(batch: readonly Pending<T, R>[]): Promise<void> {
    try {
      const results = await run(batch.map((p) => p.item));
      if (results.length !== batch.length) throw new Error(`batch answered ${results.length} results for ${batch.length} items`);
      batch.forEach((p, i) => {
        p.resolve(results[i] as R);
      });
    } catch (error) {
      if (batch.length === 1) batch[0]?.reject(error);
      else {
        isolating += 1;
        void runAlone(batch).finally(() => {
          isolating -= 1;
          settleIdle();
        });
      }
    } finally {
      inFlight -= 1;
      schedule();
      settleIdle();
    }
  }

  const enqueue = (item: T, unitEnd: boolean): Promise<R> =>
    new Promise<R>((resolve, reject) => {
      queue.push({ item, unitEnd, resolve, reject });
    });

  return {
    add(item) {
      const done = enqueue(item, true);
      schedule();
      return done;
    },
    addAll(items) {
      if (items.length === 0) return Promise.resolve([]);
      return new Promise<R[]>((resolve, reject) => {
        const unit = new Unit<R>(items.length, resolve, reject);
        items.forEach((item, i) => queue.push(new UnitItem(item, i === items.length - 1, unit, i)));
        schedule();
      });
    },
    drain() {
      if (queue.length === 0 && inFlight === 0 && isolating === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idle.push(resolve));
    },
  };
}

/**
 * How many queued items the next batch takes: up to `maxBatch`, cut back to the end of the last
 * whole unit in it; a unit larger than `maxBatch` on its own is split.
 */
function unitCut(queue: ReadonlyArray<{ readonly unitEnd: boolean }>, maxBatch: number): number {
  if (queue.length <= maxBatch) return queue.length;
  for (let end = maxBatch; end > 0; end -= 1) if (queue[end - 1]?.unitEnd === true) return end;
  return maxBatch;
}

/** MySQL/MariaDB ER_LOCK_DEADLOCK and ER_LOCK_WAIT_TIMEOUT. */
const RETRYABLE_ERRNOS: ReadonlySet<unknown> = new Set([1213, 1205]);
/** PostgreSQL deadlock_detected and serialization_failure (SQLSTATE). */
const RETRYABLE_SQLSTATES: ReadonlySet<unknown> = new Set(['40P01', '40001']);

/** Deadlock or serialization failure: the database rolled the statement back and it can run again. */
export function isRetryableConflict(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { errno, code: sqlState } = error as { code?: unknown; errno?: unknown };
  return RETRYABLE_ERRNOS.has(errno) || RETRYABLE_SQLSTATES.has(sqlState);
}

/** Runs a statement again (up to `times` more) when the database rolled it back as a deadlock. */
export async function retryConflicts<R>(statement: () => Promise<R>, times = 3): Promise<R> {
  for (let round = 0; ; round += 1) {
    try {
      return await statement();
    } catch (error) {
      if (round >= times || !isRetryableConflict(error)) throw error;
    }
  }
}
