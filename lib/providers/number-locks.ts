/**
 * Numbers a provider refuses for a while (Twilio locks a number for 10 minutes after 60202 max
 * check attempts or 60203 max send attempts). The provider remembers them here, per process, so the
 * next send for such a number fails at once as `rate-limited` (and the chain goes on to the next
 * provider) instead of calling the provider again. Bounded: expired entries are dropped first, then
 * the oldest ones.
 */

export interface NumberLock {
  /** Milliseconds the lock still runs (> 0). */
  readonly remainingMs: number;
  /** What locked the number, e.g. the provider code `60202`. */
  readonly reason: string;
}

export interface NumberLocks {
  /** Locks `phone` for `ms` from now (a longer existing lock is kept). */
  lock(phone: string, ms: number, reason: string): void;
  /** The running lock of `phone`, if any. */
  current(phone: string): NumberLock | undefined;
  /** How many numbers are locked right now. */
  size(): number;
}

/** The most numbers one provider remembers; beyond it the oldest lock is forgotten. */
const MAX_LOCKED_NUMBERS = 10_000;

export function createNumberLocks(clock: () => number = Date.now, maxEntries = MAX_LOCKED_NUMBERS): NumberLocks {
  const locks = new Map<string, { until: number; reason: string }>();

  function dropExpired(now: number): void {
    for (const [phone, entry] of locks) if (entry.until <= now) locks.delete(phone);
  }

  function makeRoom(now: number): void {
    dropExpired(now);
    while (locks.size >= maxEntries) {
      const oldest = locks.keys().next();
      if (oldest.done === true) break;
      locks.delete(oldest.value);
    }
  }

  return {
    lock(phone, ms, reason) {
      const now = clock();
      const until = now + Math.max(0, ms);
      const existing = locks.get(phone);
      if (existing !== undefined && existing.until >= until) return;
      locks.delete(phone); // re-inserted last: Map order is the eviction order
      if (locks.size >= maxEntries) makeRoom(now);
      locks.set(phone, { until, reason });
    },
    current(phone) {
      const entry = locks.get(phone);
      if (entry === undefined) return undefined;
      const remainingMs = entry.until - clock();
      if (remainingMs <= 0) {
        locks.delete(phone);
        return undefined;
      }
      return { remainingMs, reason: entry.reason };
    },
    size() {
      dropExpired(clock());
      return locks.size;
    },
  };
}
