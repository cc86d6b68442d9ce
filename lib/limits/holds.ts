/**
 * Renewing holds of the pumping breaker, and the release and listing of holds and number locks.
 *
 * A range whose conversion is low is held (its breaker counter is blocked, so sends answer 429). The
 * hold is a row (lib/storage/hold-queries.ts): each time the breaker would trip again for the range
 * (while held, every `checkEvery` refused sends are judged; after it, the usual judgement) the hold
 * is renewed one level up, doubling, never above `maxHoldSeconds` (lib/limits/policy.ts
 * `nextHoldSeconds`). A hold that ended more than `maxHoldSeconds` ago is forgotten. When codes to a
 * held range are verified again (its conversion is back at `minRatio`, or too few sends are left to
 * judge), it is released early. Every release is a `hold-released` event and an
 * `otp.hold_released` webhook written with it.
 */
import type { Knex } from 'knex';
import { maskPhone } from '../core/phone.js';
import type { OtpEvents } from '../events.js';
import { deleteHold, deleteNumberLocks, heldTargets, listHolds, listNumberLocks, readHold, recordHold } from '../storage/hold-queries.js';
import { conversionSince } from '../storage/request-queries.js';
import type { Logger } from '../types.js';
import type { ResolvedLimits } from './config.js';
import type { CounterSet } from './counters.js';
import { prefixBucket } from './keys.js';
import { blockOn, withLockEvent, type LockEventSettings } from './lock-events.js';
import { conversionLow, lockSecondsFor, nextHoldSeconds } from './policy.js';
import { loggableError } from '../core/safe-error.js';

export interface HoldSettings extends LockEventSettings {
  readonly limits: ResolvedLimits;
  readonly logger: Logger;
  /** Cap of a renewed hold. @default 86400 */
  readonly maxHoldSeconds?: number;
  /** Monitor mode: the breaker's holds are recorded and reported but refuse nothing. */
  readonly monitored?: boolean;
  /** How long the list of held ranges is cached for the early release. @default 5000 */
  readonly refreshMs?: number;
}

/** One entry of `otp.holds()` (the status JSON contract). */
export interface HoldView {
  readonly kind: 'range' | 'number';
  /** The range (`+4915177`) or the masked number. */
  readonly target: string;
  readonly reason: string;
  readonly since: string;
  readonly until: string;
}

export interface ReleaseResult {
  readonly released: boolean;
  readonly kind?: 'range' | 'number';
  /** The range, or the masked number. */
  readonly target: string;
  /** What was lifted (`conversionBreaker`, `verifyLock`, `failureBudget`), or why nothing was. */
  readonly reason: string;
}

export interface HoldKeeper {
  /** The breaker would trip for `range`: record the hold (or renew it one level up) and block the range. */
  trip(range: string, sent: number, verified: number): Promise<void>;
  /** A held range was asked for again: judge it, and renew the hold while its conversion stays low. */
  judgeHeld(range: string): Promise<void>;
  /** A code to `e164` was verified: release its range early when its conversion recovered. Never throws. */
  verified(e164: string): Promise<void>;
  list(): Promise<HoldView[]>;
  /** Lifts the hold of a range, or the locks of a number (E.164). */
  release(target: string, kind: 'range' | 'number'): Promise<ReleaseResult>;
}

export function createHoldKeeper(knex: Knex, settings: HoldSettings, set: CounterSet, events: OtpEvents): HoldKeeper {
  const { limits, tables, clock, logger } = settings;
  const breaker = limits.conversionBreaker;
  const cap = settings.maxHoldSeconds ?? 86_400;
  const reason = settings.monitored === true ? 'conversionBreaker (monitored)' : 'conversionBreaker';
  let cache: { at: number; targets: ReadonlySet<string> } | undefined;
  let loading: Promise<ReadonlySet<string>> | undefined;

  async function trip(range: string, sent: number, verified: number): Promise<void> {
    const counter = set.counters.conversionBreaker;
    if (breaker === false || counter === undefined) return;
    const now = clock();
    const plan = { target: range, reason, now, secondsFor: (level: number) => nextHoldSeconds(level, breaker.holdSeconds, cap), memoryMs: cap * 1000 };
    const recorded = await withLockEvent(
      knex,
      settings,
      'otp.range_held',
      async (db) => {
        const hold = await recordHold(db, tables, plan);
        // Blocked for what is left of the hold (a renewal never shortens a running hold).
        if (hold !== undefined) await blockOn(db, tables.limits, counter, range, Math.max(1, Math.ceil((hold.until - now) / 1000)));
        return hold;
      },
      (hold) => (hold === undefined ? undefined : { extra: { range, sent, verified, holdSeconds: hold.seconds, level: hold.level } }),
    );
    if (recorded === undefined) return;
    cache = undefined;
    const facts = { range, sent, verified, holdSeconds: recorded.seconds, level: recorded.level };
    logger.error(facts, recorded.level === 1 ? 'otp sends to a number range are held: few of its codes are verified (SMS pumping?)' : 'otp hold of a number range renewed (doubled): its codes are still not verified');
    events.emit('range-held', { ...facts, ...(settings.monitored === true ? { monitored: true } : {}) });
  }

  async function judgeHeld(range: string): Promise<void> {
    if (breaker === false) return;
    const { sent, verified } = await conversionSince(knex, tables, range, clock() - breaker.windowSeconds * 1000);
    if (conversionLow(sent, verified, breaker)) await trip(range, sent, verified);
  }

  async function heldNow(): Promise<ReadonlySet<string>> {
    const now = clock();
    if (cache !== undefined && now - cache.at < (settings.refreshMs ?? 5000)) return cache.targets;
    loading ??= heldTargets(knex, tables, now)
      .then((targets) => {
        cache = { at: now, targets: new Set(targets) };
        return cache.targets;
      })
      .finally(() => {
        loading = undefined;
      });
    return loading;
  }

  async function verified(e164: string): Promise<void> {
    if (breaker === false) return;
    try {
      const range = prefixBucket(e164, breaker.hiddenDigits);
      if (!(await heldNow()).has(range)) return;
      const { sent, verified: count } = await conversionSince(knex, tables, range, clock() - breaker.windowSeconds * 1000);
      if (conversionLow(sent, count, breaker)) return;
      await releaseRange(range, 'conversion');
    } catch (error) {
      logger.error({ err: loggableError(error) }, 'otp fraud guard: checking a held range after a verified code failed');
    }
  }

  async function releaseRange(range: string, by: 'operator' | 'conversion'): Promise<ReleaseResult> {
    const now = clock();
    const hold = await readHold(knex, tables, range);
    const counter = set.counters.conversionBreaker;
    const blocked = counter === undefined ? undefined : await counter.peek(range);
    const held = (hold !== undefined && hold.until > now) || (counter !== undefined && blocked !== undefined && blocked.consumed > counter.max);
    if (!held) {
      if (hold !== undefined) await deleteHold(knex, tables, range, undefined);
      return { released: false, kind: 'range', target: range, reason: 'not-held' };
    }
    const why = by === 'conversion' ? 'conversion-recovered' : 'released';
    const extra = { kind: 'range', target: range, range, reason: why, by };
    await withLockEvent(knex, settings, 'otp.hold_released', (db) => deleteHold(db, tables, range, counter?.name), () => ({ extra }));
    cache = undefined;
    logger.warn({ range, by }, 'otp hold of a number range released');
    events.emit('hold-released', { kind: 'range', target: range, reason: why, by });
    return { released: true, kind: 'range', target: range, reason: 'conversionBreaker' };
  }

  function lockQuery(phone?: string) {
    const { verifyLock, lockLevel } = set.counters;
    const lock = limits.verifyLock;
    return {
      verifyLock: verifyLock === undefined || lockLevel === undefined || lock === false ? undefined : { counter: verifyLock.name, levelCounter: lockLevel.name, failures: lock.failures },
      failureBudget: limits.failureBudget !== false,
      wallNow: Date.now(),
      now: clock(),
      ...(phone === undefined ? {} : { phone }),
    };
  }

  /** When a number lock began: its until less the lock it got (the wrong-code lock doubles per level). */
  function lockSince(lock: 'verifyLock' | 'failureBudget', level: number, until: number): number {
    if (lock === 'verifyLock' && limits.verifyLock !== false) return until - lockSecondsFor(level, limits.verifyLock) * 1000;
    return limits.failureBudget === false ? until : until - limits.failureBudget.lockSeconds * 1000;
  }

  async function releaseNumber(phone: string): Promise<ReleaseResult> {
    const masked = maskPhone(phone);
    const locks = await listNumberLocks(knex, tables, lockQuery(phone));
    if (locks.length === 0) return { released: false, kind: 'number', target: masked, reason: 'not-locked' };
    const what = [...new Set(locks.map((l) => l.lock))].join(',');
    const counters = [set.counters.verifyLock?.name, set.counters.lockLevel?.name].filter((c): c is string => c !== undefined);
    const facts = { phone, extra: { kind: 'number', target: masked, reason: what, by: 'operator' } };
    await withLockEvent(knex, settings, 'otp.hold_released', (db) => deleteNumberLocks(db, tables, phone, counters, limits.failureBudget !== false), () => facts);
    logger.warn({ phone: masked, lock: what }, 'otp number lock released by an operator');
    events.emit('hold-released', { kind: 'number', target: masked, reason: what, by: 'operator' });
    return { released: true, kind: 'number', target: masked, reason: what };
  }

  async function list(): Promise<HoldView[]> {
    const iso = (ms: number): string => new Date(ms).toISOString();
    const ranges = await listHolds(knex, tables, clock());
    const numbers = await listNumberLocks(knex, tables, lockQuery());
    return [
      ...ranges.map((h): HoldView => ({ kind: 'range', target: h.target, reason: h.level > 1 ? `${h.reason} (renewed ${h.level - 1}x)` : h.reason, since: iso(h.since), until: iso(h.until) })),
      ...numbers.map((n): HoldView => ({ kind: 'number', target: maskPhone(n.phone), reason: n.lock, since: iso(lockSince(n.lock, n.level, n.until)), until: iso(n.until) })),
    ];
  }

  return {
    trip,
    judgeHeld,
    verified,
    list,
    release: (target, kind) => (kind === 'range' ? releaseRange(target, 'operator') : releaseNumber(target)),
  };
}
