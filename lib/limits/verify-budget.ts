/**
 * The verify side of the limits: the per-IP verify cap, the number's locks, and its failure
 * budget (NIST SP 800-63B: at most 100 consecutive failed attempts, then disable). Counted in the
 * database (lib/storage/failure-queries.ts), so it holds across processes.
 *
 * A guess is decided by ONE conditional statement on its request (count the wrong attempt, or
 * consume on a right code), which also requires the budget unspent; the failure is charged after.
 * Near the end of the budget, where guesses in flight could overshoot it, every guess (right or
 * wrong alike, so neither is faster) reserves its unit first and settles it afterwards.
 */
import type { Knex } from 'knex';
import { maskPhone } from '../core/phone.js';
import type { Refusal } from '../errors.js';
import type { OtpEvents } from '../events.js';
import { chargeFailure, clearFailures, lockWhenSpent, readFailureState, releaseFailure, reserveFailure } from '../storage/failure-queries.js';
import { readLockStates, type LockState } from '../storage/lock-reads.js';
import type { OtpTableNames } from '../storage/migrations.js';
import type { LockJoin } from '../storage/request-queries.js';
import type { BudgetCondition } from '../storage/verify-queries.js';
import type { Logger } from '../types.js';
import type { ResolvedLimits } from './config.js';
import type { CounterSet } from './counters.js';
import { ipBucket } from './keys.js';
import { blockOn, withLockEvent, type LockEventSettings } from './lock-events.js';
import { budgetRefusal, budgetSpent, lockRefusal } from './locks.js';
import { lockSecondsFor } from './policy.js';
import { loggableError } from '../core/safe-error.js';

export interface VerifyBudgetSettings extends LockEventSettings {
  readonly limits: ResolvedLimits;
  readonly tables: OtpTableNames;
  readonly maxAttempts: number;
  readonly clock: () => number;
  readonly logger: Logger;
  /** No warning for a budget that is off (the safe list's budget, which limits nothing by design). */
  readonly quiet?: boolean;
}

export interface VerifyBudget {
  /** The lock rows the request lookup reads along (so locks cost no statement of their own). */
  readonly lockJoin: LockJoin;
  /** The per-IP verify cap. */
  admit(ip: string | undefined): Promise<Refusal | undefined>;
  /** Refuses while the number is locked; reads its lock rows itself when `state` is not given. */
  locked(phone: string, state: LockState | undefined): Promise<{ readonly state: LockState; readonly refusal?: Refusal }>;
  /** What a decisive statement must also hold (the budget unspent); undefined when the budget is off. */
  condition(phone: string): BudgetCondition | undefined;
  /** Whether a guess must reserve its unit before its decisive statement (near the end of the budget). */
  mustReserve(state: LockState): boolean;
  /** Reserves one unit of the budget; the refusal when it is spent. */
  reserve(phone: string, state?: LockState): Promise<Refusal | undefined>;
  /** Gives back a reservation whose guess was not a failure. Never throws. */
  release(phone: string): Promise<void>;
  /** A counted wrong guess: charges it (unless reserved), then locks the number when due. Never throws. */
  failed(phone: string, reserved: boolean, state?: LockState): Promise<void>;
  /** A right code: forgets failures and locks, touching only rows `state` showed. Never throws. */
  succeeded(phone: string, state: LockState | undefined): Promise<void>;
  /** A decisive statement refused with the request still live: the refusal if the budget is spent. */
  spent(phone: string): Promise<Refusal | undefined>;
}

const NO_LOCKS: LockState = { counters: new Map(), failures: undefined };
const knownOf = (state: LockState | undefined): 'absent' | 'present' | 'unknown' => (state === undefined ? 'unknown' : state.failures === undefined ? 'absent' : 'present');

export function createVerifyBudget(knex: Knex, settings: VerifyBudgetSettings, set: CounterSet, events: OtpEvents): VerifyBudget {
  const { limits, tables, clock, logger } = settings;
  const budget = limits.failureBudget;
  const { verifyLock, lockLevel } = set.counters;
  const lockJoin: LockJoin = { counters: [verifyLock, lockLevel].flatMap((c) => (c === undefined ? [] : [c.name])), failureBudget: budget !== false };

  // Monitor mode: the budget is counted and reported but never refuses (nor joins the decisive statement).
  const watchOnly = set.monitor.has('failureBudget');
  if (budget === false && settings.quiet !== true) {
    logger.warn('limits.failureBudget is off: NIST SP 800-63B requires at most 100 consecutive failed attempts per number; make sure the app limits them elsewhere');
  }

  async function admit(ip: string | undefined): Promise<Refusal | undefined> {
    const bucket = ipBucket(ip, limits.ipv6Subnet);
    return set.firstRefusal(await set.take([set.named('verifiesPerIp', bucket, bucket ?? '')]));
  }

  async function locked(phone: string, given: LockState | undefined): Promise<{ state: LockState; refusal?: Refusal }> {
    const state: LockState = given ?? (await readLockStates(knex, tables, budget !== false, [{ phone, counters: lockJoin.counters }]))[0] ?? NO_LOCKS;
    const refusal = lockRefusal(state, phone, limits, set, events, clock());
    return refusal === undefined ? { state } : { state, refusal };
  }

  async function reserve(phone: string, state?: LockState): Promise<Refusal | undefined> {
    if (budget === false) return undefined;
    const now = clock();
    if (await reserveFailure(knex, tables.failures, phone, budget.failures, now, knownOf(state))) return undefined;
    const current = await readFailureState(knex, tables.failures, phone);
    const refusal = budgetRefusal(phone, current?.lockedUntil ?? null, events, now, watchOnly);
    return watchOnly ? undefined : refusal;
  }

  async function release(phone: string): Promise<void> {
    if (budget === false) return;
    await releaseFailure(knex, tables.failures, phone, clock()).catch((error: unknown) => {
      logger.error({ phone: maskPhone(phone), err: loggableError(error) }, 'otp limits: giving back a reserved guess failed');
    });
  }

  /**
   * The most failures the budget can hold by the time guesses in flight settle: those `state` saw plus
   * two requests' attempts (guesses are counted on a live request, at most `maxAttempts` each).
   */
  const reach = (state: LockState): number => (state.failures?.failures ?? 0) + 2 * settings.maxAttempts;
  /** Whether this failure may be the one that spends the budget (else it needs no lock hint). */
  const mayLockBudget = (state: LockState | undefined): boolean => budget !== false && (state === undefined || reach(state) + 1 >= budget.failures);

  async function lockWhenDue(phone: string, state: LockState | undefined): Promise<void> {
    const masked = maskPhone(phone);
    if (budget !== false) {
      // The number's lock hint goes first: a send that does not see it took its counters before this lock.
      if (mayLockBudget(state)) await set.hintLock(phone, budget.lockSeconds);
      const now = clock();
      const lockedUntil = now + budget.lockSeconds * 1000;
      const locked = await withLockEvent(knex, settings, 'otp.number_locked', (db) => lockWhenSpent(db, tables.failures, phone, budget.failures, lockedUntil, now), (done) =>
        done ? { phone, extra: { lock: 'failureBudget', failures: budget.failures, lockSeconds: budget.lockSeconds } } : undefined,
      );
      if (locked) {
        logger.warn({ phone: masked, failures: budget.failures, lockSeconds: budget.lockSeconds }, 'otp failure budget spent: number disabled');
        events.emit('number-locked', { lock: 'failureBudget', phone: masked, failures: budget.failures, lockSeconds: budget.lockSeconds });
      }
    }
    if (verifyLock !== undefined && lockLevel !== undefined && limits.verifyLock !== false) {
      const counted = await verifyLock.add(phone);
      // Atomic counts are distinct: exactly one failure reaches the threshold and sets the lock.
      if (counted.consumed === limits.verifyLock.failures) {
        const level = await lockLevel.add(phone);
        const lockSeconds = lockSecondsFor(level.consumed, limits.verifyLock);
        const failures = limits.verifyLock.failures;
        await set.hintLock(phone, lockSeconds);
        await withLockEvent(knex, settings, 'otp.number_locked', (db) => blockOn(db, tables.limits, verifyLock, phone, lockSeconds), () => ({ phone, extra: { lock: 'verifyLock', failures, lockSeconds } }));
        logger.warn({ phone: masked, failures: limits.verifyLock.failures, lockSeconds }, 'otp wrong codes: number locked');
        events.emit('number-locked', { lock: 'verifyLock', phone: masked, failures: limits.verifyLock.failures, lockSeconds });
      }
    }
  }

  async function failed(phone: string, reserved: boolean, state?: LockState): Promise<void> {
    try {
      if (!reserved && budget !== false) await chargeFailure(knex, tables.failures, phone, clock(), knownOf(state));
      await lockWhenDue(phone, state);
    } catch (error) {
      // The verify answer stands; a spent budget still refuses the next guess.
      logger.error({ phone: maskPhone(phone), err: loggableError(error) }, 'otp limits: counting a failure failed');
    }
  }

  async function succeeded(phone: string, state: LockState | undefined): Promise<void> {
    try {
      // NIST SP 800-63B: earlier failures SHOULD be disregarded after a successful authentication.
      // Rows the lookup did not see are not touched (a failure counted in between stays: the strict side).
      if (budget !== false && (state === undefined || state.failures !== undefined)) await clearFailures(knex, tables.failures, phone);
      const forget = [verifyLock, lockLevel].filter((c) => c !== undefined && (state === undefined || state.counters.has(c.name)));
      await set.store.forget(forget.map((counter) => ({ counter: counter as NonNullable<typeof counter>, key: phone })));
    } catch (error) {
      logger.error({ phone: maskPhone(phone), err: loggableError(error) }, 'otp limits: forgetting failures after a success failed');
    }
  }

  async function spent(phone: string): Promise<Refusal | undefined> {
    if (budget === false || watchOnly) return undefined;
    const now = clock();
    const state = await readFailureState(knex, tables.failures, phone);
    if (state === undefined || !budgetSpent(state.failures, state.lockedUntil, budget.failures, now)) return undefined;
    return budgetRefusal(phone, state.lockedUntil, events, now);
  }

  return {
    lockJoin,
    admit,
    locked,
    condition: (phone) => (budget === false || watchOnly ? undefined : { phone, max: budget.failures }),
    // Guesses in flight are at most a request's attempts; two requests' worth keeps the cap exact.
    mustReserve: (state) => budget !== false && !watchOnly && reach(state) >= budget.failures,
    reserve,
    release,
    failed,
    succeeded,
    spent,
  };
}
