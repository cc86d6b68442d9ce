/**
 * Whether a number is locked by wrong codes, from its lock rows as read (lib/storage/lock-reads.ts):
 * the wrong-code lock (`verifyLock`, a counter window) and the failure budget (disabled until
 * `locked_until`). A locked number can neither verify nor get a new code. Emits `limit-hit`.
 */
import { maskPhone } from '../core/phone.js';
import type { Refusal } from '../errors.js';
import type { OtpEvents } from '../events.js';
import type { LockState } from '../storage/lock-reads.js';
import type { ResolvedLimits } from './config.js';
import type { CounterSet, HitContext } from './counters.js';
import { limitVerdict, retryAfterSeconds } from './policy.js';

function refused(events: OtpEvents, limit: 'verifyLock' | 'failureBudget', phone: string, ms: number, context: HitContext & { monitored?: boolean } = {}): Refusal {
  const retryAfter = retryAfterSeconds(ms);
  events.emit('limit-hit', { limit, key: maskPhone(phone), retryAfterSeconds: retryAfter, ...context });
  return { code: 'RATE_LIMITED', retryAfter, limit };
}

/** A lock in monitor mode reports (`monitored: true`) and refuses nothing. */
function verdictOf(set: CounterSet, events: OtpEvents, limit: 'verifyLock' | 'failureBudget', phone: string, ms: number, context: HitContext): Refusal | undefined {
  if (limitVerdict(limit, set.monitor) === 'refuse') return refused(events, limit, phone, ms, context);
  events.emit('limit-hit', { limit, key: maskPhone(phone), retryAfterSeconds: retryAfterSeconds(ms), monitored: true, ...context });
  return undefined;
}

/** `now` is the kit's clock (the failure budget's times); counter windows run on `Date.now()`. */
export function lockRefusal(state: LockState, phone: string, limits: ResolvedLimits, set: CounterSet, events: OtpEvents, now: number, context: HitContext = {}): Refusal | undefined {
  const lock = set.counters.verifyLock;
  if (lock !== undefined && limits.verifyLock !== false) {
    const row = state.counters.get(lock.name);
    const window = row === undefined ? undefined : set.store.stateOf(row.points, row.expire, Date.now());
    if (window !== undefined && window.consumed > limits.verifyLock.failures) {
      const verdict = verdictOf(set, events, 'verifyLock', phone, window.msLeft, context);
      if (verdict !== undefined) return verdict;
    }
  }
  if (limits.failureBudget !== false) {
    const lockedUntil = state.failures?.lockedUntil ?? null;
    if (lockedUntil !== null && lockedUntil > now) return verdictOf(set, events, 'failureBudget', phone, lockedUntil - now, context);
  }
  return undefined;
}

/** Whether the failure budget is spent: a lock in force, or every unit taken by guesses in flight. */
export function budgetSpent(failures: number, lockedUntil: number | null, max: number, now: number): boolean {
  return (lockedUntil !== null && lockedUntil > now) || (lockedUntil === null && failures >= max);
}

/** The refusal of a spent failure budget: the lock's wait, or 1 s while guesses in flight settle. */
export function budgetRefusal(phone: string, lockedUntil: number | null, events: OtpEvents, now: number, monitored = false): Refusal {
  return refused(events, 'failureBudget', phone, lockedUntil !== null && lockedUntil > now ? lockedUntil - now : 1, monitored ? { monitored: true } : {});
}
