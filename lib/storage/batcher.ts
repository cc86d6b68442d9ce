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

export interface Batcher<T, R> {
  /** Queues one item; resolves with its result once the batch holding it has been written. */
  add(item: T): Promise<R>;
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
  resolve(result: R): void;
  reject(error: unknown): void;
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
      const batch = queue.slice(0, maxBatch);
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

  return {
    add(item) {
      return new Promise<R>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        schedule();
      });
    },
    drain() {
      if (queue.length === 0 && inFlight === 0 && isolating === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idle.push(resolve));
    },
  };
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
