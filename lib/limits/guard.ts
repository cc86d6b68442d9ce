/**
 * The abuse guard that the service calls around every send and verify: bot challenge, send
 * limits, destination policy, verify limits and the per-number failure budget. Counters live in
 * the database (lib/limits/store.ts, lib/limits/failure-queries.ts), so they hold across every
 * process of the app; nothing here counts in process memory.
 *
 * Order of a send: challenge → per-IP → per-number cooldown and cap → number locked by wrong
 * codes → destination policy → per-prefix, per-country and daily budget. Refused destinations pass the per-IP and per-number
 * limits like any number (so 429s cannot tell them apart) but never the cost budgets, and they get
 * a look-alike 202 with no row and no provider call.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Knex } from 'knex';
import type { CountryCode } from 'libphonenumber-js/max';
import { canonicalPhone, maskPhone, type CanonicalPhone } from '../core/phone.js';
import { OtpError } from '../errors.js';
import type { OtpEvents } from '../events.js';
import type { OtpTableNames } from '../storage/migrations.js';
import type { Channel, Logger, SendResult, VerifyResult } from '../types.js';
import type { ChallengeHook, ConversionBreaker, ResolvedDestinations, ResolvedLimits } from './config.js';
import { destinationRefusal } from './destination.js';
import { clearFailures, lockWhenSpent, readFailureState, readLockState, readLockStates, releaseFailure, reserveFailure, type FailureState, type LockRead } from './failure-queries.js';
import { ipBucket, prefixBucket } from './keys.js';
import { createBatcher } from '../storage/batcher.js';
import { conversionSince } from '../storage/queries.js';
import { lockSecondsFor, retryAfterSeconds } from './policy.js';
import { createCounterStore, type Counter, type CounterTake, type TakeResult } from './store.js';

/** A send option the router may pass along: the answer to a bot challenge (e.g. a CAPTCHA token). */
export interface ChallengeSendOptions {
  readonly challengeToken?: string;
}

export interface GuardSettings {
  readonly limits: ResolvedLimits;
  readonly destinations: ResolvedDestinations;
  readonly challenge: ChallengeHook | undefined;
  readonly tables: OtpTableNames;
  readonly ttlSeconds: number;
  readonly clock: () => number;
  readonly logger: Logger;
}

export interface SendCheck {
  /** E.164. */
  readonly phone: string;
  readonly channel: Channel;
  readonly purpose: string;
  readonly ip: string | undefined;
  readonly challengeToken: string | undefined;
  /** The number as the caller already parsed it (country and type); parsed again when absent. */
  readonly classified?: CanonicalPhone;
}

export interface SendAdmission {
  /** Set when the destination is refused: answer with exactly this and do nothing else. */
  readonly decoy?: SendResult;
  /** Call when a real send has answered: its duration is what decoys take. */
  sent(): void;
}

export interface GuessTicket {
  /** Settles the guess reserved before the code was compared (never throws). */
  settle(result: VerifyResult | undefined): Promise<void>;
}

/** What the verify lookup reads along with the request (one statement): the lock rows of a number. */
export interface LockReads {
  readonly limitsTable: string;
  /** Row keys in the limits table: the wrong-code lock, then its escalation level. Empty when off. */
  readonly limitKeys: readonly string[];
  /** The failure-budget table, or undefined when the budget is off. */
  readonly failuresTable: string | undefined;
}

/** The lock rows of a number as read: limits rows by row key (points, expire), and the failure budget. */
export interface LockState {
  readonly limits: ReadonlyMap<string, { readonly points: unknown; readonly expire: unknown }>;
  readonly failures: FailureState | undefined;
}

/** The budget condition a consume must hold atomically (no lock in force, budget not spent). */
export interface BudgetGuard {
  readonly table: string;
  readonly max: number;
}

export interface AbuseGuard {
  /** The tables the guard needs (checked by `ready()`). */
  readonly tables: readonly string[];
  /** Throws `RATE_LIMITED` (or the challenge refusal); returns a decoy for refused destinations. */
  admitSend(check: SendCheck): Promise<SendAdmission>;
  /** Per-IP verify cap; throws `RATE_LIMITED`. The number's locks are checked by `refuseIfLocked`. */
  admitVerify(phone: string, ip: string | undefined): Promise<void>;
  /** What to read with the request lookup, so the number's locks cost no statement of their own. */
  lockReads(phone: string): LockReads;
  /** The lock tables and row-key prefixes, for the request lookup to join (`LockJoin`). */
  lockJoin(): { readonly limitsTable: string; readonly keyPrefixes: readonly string[]; readonly failuresTable: string | undefined };
  /** Throws `RATE_LIMITED` while the number is locked; reads the state itself when not given. */
  refuseIfLocked(phone: string, state: LockState | undefined): Promise<LockState>;
  /** For a consume that must also find the failure budget unspent; undefined when the budget is off. */
  readonly budgetGuard: BudgetGuard | undefined;
  /** A consume refused with the request still live: throws `RATE_LIMITED` if the budget is spent. */
  refuseIfSpent(phone: string): Promise<void>;
  /** After a right code was consumed: forgets failures and locks, touching only what `state` showed. */
  succeeded(phone: string, state: LockState | undefined): Promise<void>;
  /** Reserves a unit of the number's failure budget before a code is compared; throws `RATE_LIMITED` when spent. */
  reserveGuess(phone: string, state?: LockState): Promise<GuessTicket>;
}

const DAY_SECONDS = 86_400;
const SWEEP_EVERY_MS = 10 * 60_000;
const MAX_DECOY_DELAY_MS = 5_000;

function limited(retryAfter: number | undefined, verify = false): OtpError {
  return new OtpError('RATE_LIMITED', undefined, {
    ...(retryAfter === undefined ? {} : { retryAfter }),
    ...(verify ? { requestValid: false, codeValid: false } : {}),
  });
}

/** Durations of recent real sends; a decoy waits one of them, so both answer in the same time class. */
function latencySampler(size = 32) {
  const samples: number[] = [];
  let next = 0;
  return {
    record(ms: number): void {
      const value = Math.min(MAX_DECOY_DELAY_MS, Math.max(0, ms));
      if (samples.length < size) samples.push(value);
      else samples[next] = value;
      next = (next + 1) % size;
    },
    pick(): number {
      return samples.length === 0 ? 0 : (samples[randomInt(samples.length)] ?? 0);
    },
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createAbuseGuard(knex: Knex, settings: GuardSettings, events: OtpEvents): AbuseGuard {
  const { limits, destinations, challenge, tables, clock, logger } = settings;
  const store = createCounterStore(knex, tables.limits);
  const window = (name: string, limit: { max: number; windowSeconds: number } | false): Counter | undefined =>
    limit === false ? undefined : store.counter(name, limit.max, limit.windowSeconds);

  const counters = {
    sendCooldownSeconds: limits.sendCooldownSeconds === false ? undefined : store.counter('sc', 1, limits.sendCooldownSeconds),
    sendsPerNumber: window('sn', limits.sendsPerNumber),
    sendsPerIp: window('si', limits.sendsPerIp),
    sendsPerPrefix: window('sp', limits.sendsPerPrefix),
    sendsPerCountry: window('sk', limits.sendsPerCountry),
    dailySendBudget: limits.dailySendBudget === false ? undefined : store.counter('sg', limits.dailySendBudget, DAY_SECONDS),
    verifiesPerIp: window('vi', limits.verifiesPerIp),
    verifyLock: limits.verifyLock === false ? undefined : store.counter('vl', limits.verifyLock.failures, limits.verifyLock.windowSeconds),
    // Never refuses by count (the max stays within the INT column even when blocked at max + 1): only a
    // `block` from the conversion check holds a range.
    conversionBreaker: limits.conversionBreaker === false ? undefined : store.counter('cb', 1_000_000_000, limits.conversionBreaker.windowSeconds),
    // Locks so far (the escalation level); `max` is never reached, only `add` is used.
    lockLevel: limits.verifyLock === false ? undefined : store.counter('vv', 1_000_000, limits.verifyLock.escalationWindowSeconds),
  };
  type CounterName = keyof typeof counters;
  /** Where a number's lock rows live (the failure budget's table only when the budget is on). */
  const lockTables = { limitsTable: tables.limits, failuresTable: limits.failureBudget === false ? undefined : tables.failures };
  const latency = latencySampler();
  let lastSweep = 0;

  if (limits.failureBudget === false) {
    logger.warn('limits.failureBudget is off: NIST SP 800-63B requires at most 100 consecutive failed attempts per number; make sure the app limits them elsewhere');
  }

  interface NamedTake extends CounterTake {
    readonly name: CounterName;
    readonly shownKey: string;
  }

  const named = (name: CounterName, key: string | undefined, shownKey: string): NamedTake | undefined => {
    const counter = counters[name];
    return counter === undefined || key === undefined ? undefined : { name, counter, key, shownKey };
  };

  /**
   * Takes one unit of each counter in one statement (shared with concurrent requests: the store
   * batches them) and answers the results in order; `refuseFirst` then applies the order.
   */
  async function take(wanted: ReadonlyArray<NamedTake | undefined>): Promise<Array<{ take: NamedTake; result: TakeResult }>> {
    const takes = wanted.filter((t): t is NamedTake => t !== undefined);
    const results = await store.takeAll(takes);
    return takes.map((t, i) => ({ take: t, result: results[i] as TakeResult }));
  }

  /** Gives back the units of takes that a refusal made void (a neighbour may see them for a moment: strict side). */
  async function giveBack(taken: ReadonlyArray<{ take: NamedTake }>): Promise<void> {
    if (taken.length === 0) return;
    await store.giveBack(taken.map((t) => t.take)).catch((error: unknown) => {
      logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'otp limits: giving back units of a refused request failed');
    });
  }

  /**
   * The first refusal among `taken` emits `limit-hit` and throws 429 with the wait; the counters after
   * it (and `alsoVoid`) get their unit back, so a refusal spends what one-by-one takes would have spent.
   */
  async function refuseFirst(taken: ReadonlyArray<{ take: NamedTake; result: TakeResult }>, verify: boolean, alsoVoid: ReadonlyArray<{ take: NamedTake }> = []): Promise<void> {
    const refused = taken.findIndex((t) => !t.result.allowed);
    if (refused === -1) return;
    const { take: { name, shownKey }, result } = taken[refused] as { take: NamedTake; result: TakeResult & { allowed: false } };
    await giveBack([...taken.slice(refused + 1), ...alsoVoid]);
    const retryAfter = retryAfterSeconds(result.msLeft);
    events.emit('limit-hit', { limit: name, key: shownKey, retryAfterSeconds: retryAfter });
    if (name === 'dailySendBudget' && limits.dailySendBudget !== false && result.consumed === limits.dailySendBudget + 1) {
      // Exactly one refused send sees the first unit over the budget (atomic count): alert once.
      logger.error({ limit: name, max: limits.dailySendBudget, retryAfterSeconds: retryAfter }, 'otp daily send budget exhausted: sends are refused until the window ends');
      events.emit('budget-exhausted', { limit: 'dailySendBudget', max: limits.dailySendBudget, windowSeconds: DAY_SECONDS, retryAfterSeconds: retryAfter });
    }
    throw limited(retryAfter, verify);
  }

  /** The lock rows of the numbers of concurrent sends, read in one statement per batch. */
  const lockBatch = createBatcher((reads: readonly LockRead[]) => readLockStates(knex, lockTables, reads), { maxBatch: 100 });

  function sweepNow(): void {
    const now = Date.now();
    if (now - lastSweep < SWEEP_EVERY_MS) return;
    lastSweep = now;
    // Expired window rows would only pile up; never on the request's critical path.
    store.sweep(now).catch((error: unknown) => {
      logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'otp limits: sweeping expired counters failed');
    });
  }

  async function askChallenge(check: SendCheck, country: CountryCode | undefined): Promise<void> {
    if (challenge === undefined) return;
    let passed = false;
    try {
      // Only a real `true` passes (a hook written in JS may answer anything).
      const answer: unknown = await challenge({ phone: check.phone, country, channel: check.channel, purpose: check.purpose, ip: check.ip, challengeToken: check.challengeToken });
      passed = answer === true;
    } catch (error) {
      // Fail closed: a broken challenge service must not open the door to pumping.
      logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'otp challenge hook threw; the send is refused');
    }
    if (passed) return;
    events.emit('send-refused', { reason: 'challenge', channel: check.channel, phone: maskPhone(check.phone), country, type: undefined });
    throw new OtpError('CHALLENGE_REQUIRED');
  }

  async function admitSend(check: SendCheck): Promise<SendAdmission> {
    sweepNow();
    const classified = check.classified ?? canonicalPhone(check.phone);
    const country = classified?.country;
    await askChallenge(check, country);
    const masked = maskPhone(check.phone);
    const ip = ipBucket(check.ip, limits.ipv6Subnet);
    const refusal = destinationRefusal({ country, type: classified?.type }, check.channel, destinations);
    const first = [named('sendsPerIp', ip, ip ?? ''), named('sendCooldownSeconds', check.phone, masked), named('sendsPerNumber', check.phone, masked)];
    const prefix = limits.sendsPerPrefix === false ? undefined : prefixBucket(check.phone, limits.sendsPerPrefix.hiddenDigits);
    const region = country ?? 'non-geographic';
    const breaker = limits.conversionBreaker;
    const range = breaker === false ? undefined : prefixBucket(check.phone, breaker.hiddenDigits);
    // Refused destinations never reach the cost budgets.
    const costs =
      refusal === undefined
        ? [named('sendsPerPrefix', prefix, prefix ?? ''), named('sendsPerCountry', region, region), named('dailySendBudget', 'global', 'global'), named('conversionBreaker', range, range ?? '')]
        : [];
    // Every counter of the send in one statement and the number's lock rows in another, both
    // shared with the sends in flight; the order of the checks is applied to the results. Only
    // the wrong-code lock itself decides a send (its escalation level does not).
    const lockKeyNow = lockKey(check.phone);
    const [taken, locks] = await Promise.all([
      take([...first, ...costs]),
      lockBatch.add({ phone: check.phone, limitKeys: lockKeyNow === undefined ? [] : [lockKeyNow] }),
    ]);
    const firstCount = first.filter((t) => t !== undefined).length;
    const firstTaken = taken.slice(0, firstCount);
    const costTaken = taken.slice(firstCount);
    await refuseFirst(firstTaken, false, costTaken);
    // A locked number cannot use a code, so it gets none (and costs nothing).
    try {
      await refuseIfLocked(check.phone, locks, false);
    } catch (error) {
      await giveBack(costTaken);
      throw error;
    }

    if (refusal !== undefined) {
      events.emit('send-refused', { reason: refusal.reason, channel: check.channel, phone: masked, country: refusal.country, type: refusal.type });
      logger.info({ reason: refusal.reason, channel: check.channel, phone: masked, country: refusal.country, type: refusal.type }, 'otp send to a refused destination answered with a decoy');
      await sleep(latency.pick());
      const decoy: SendResult = { requestId: randomUUID(), channel: check.channel, provider: null, status: 'sent', expiresAt: new Date(clock() + settings.ttlSeconds * 1000) };
      return { decoy, sent() {} };
    }

    const started = performance.now();
    await refuseFirst(costTaken, false);
    const counted = costTaken.find((t) => t.take.name === 'conversionBreaker')?.result.consumed;
    if (breaker !== false && range !== undefined && counted !== undefined && counted >= breaker.minSends && counted % breaker.checkEvery === 0) {
      await judgeConversion(range, breaker);
    }
    return {
      sent() {
        latency.record(performance.now() - started);
      },
    };
  }

  /**
   * Security #26: verified ÷ sent for the range over the breaker's window, from the request table
   * (one aggregate query, run only every `checkEvery` sends). Below `minRatio` the range is held:
   * its breaker counter is blocked, so its next sends get 429 with the hold as Retry-After.
   */
  async function judgeConversion(range: string, breaker: ConversionBreaker): Promise<void> {
    const since = clock() - breaker.windowSeconds * 1000;
    const { sent, verified } = await conversionSince(knex, tables, range, since);
    if (sent < breaker.minSends || verified / sent >= breaker.minRatio) return;
    await counters.conversionBreaker?.block(range, breaker.holdSeconds);
    logger.error({ range, sent, verified, holdSeconds: breaker.holdSeconds }, 'otp sends to a number range are held: few of its codes are verified (SMS pumping?)');
    events.emit('range-held', { range, sent, verified, holdSeconds: breaker.holdSeconds });
  }

  const lockKey = (phone: string): string | undefined => (counters.verifyLock === undefined ? undefined : store.rowKey(counters.verifyLock, phone));
  const levelKey = (phone: string): string | undefined => (counters.lockLevel === undefined ? undefined : store.rowKey(counters.lockLevel, phone));

  function lockReads(phone: string): LockReads {
    const keys = [lockKey(phone), levelKey(phone)].filter((k): k is string => k !== undefined);
    return { ...lockTables, limitKeys: keys };
  }

  /** Refuses (429) while wrong codes keep the number locked: no verify, and no new code either. */
  async function refuseIfLocked(phone: string, given: LockState | undefined, verify: boolean): Promise<LockState> {
    const state = given ?? (await readLockState(knex, lockReads(phone), phone));
    const masked = maskPhone(phone);
    const lk = lockKey(phone);
    if (lk !== undefined && limits.verifyLock !== false) {
      const row = state.limits.get(lk);
      const lock = row === undefined ? undefined : store.stateOf(row.points, row.expire, Date.now());
      if (lock !== undefined && lock.consumed > limits.verifyLock.failures) {
        const retryAfter = retryAfterSeconds(lock.msLeft);
        events.emit('limit-hit', { limit: 'verifyLock', key: masked, retryAfterSeconds: retryAfter });
        throw limited(retryAfter, verify);
      }
    }
    if (limits.failureBudget !== false) {
      const now = clock();
      const lockedUntil = state.failures?.lockedUntil ?? null;
      if (lockedUntil !== null && lockedUntil > now) {
        const retryAfter = retryAfterSeconds(lockedUntil - now);
        events.emit('limit-hit', { limit: 'failureBudget', key: masked, retryAfterSeconds: retryAfter });
        throw limited(retryAfter, verify);
      }
    }
    return state;
  }

  async function admitVerify(_phone: string, ip: string | undefined): Promise<void> {
    const bucket = ipBucket(ip, limits.ipv6Subnet);
    await refuseFirst(await take([named('verifiesPerIp', bucket, bucket ?? '')]), true);
  }

  async function refuseIfSpent(phone: string): Promise<void> {
    const budget = limits.failureBudget;
    if (budget === false) return;
    const now = clock();
    const state = await readFailureState(knex, tables.failures, phone);
    if (state === undefined) return;
    const lockedUntil = state.lockedUntil;
    const spent = (lockedUntil !== null && lockedUntil > now) || (lockedUntil === null && state.failures >= budget.failures);
    if (!spent) return;
    const retryAfter = lockedUntil !== null && lockedUntil > now ? retryAfterSeconds(lockedUntil - now) : 1;
    events.emit('limit-hit', { limit: 'failureBudget', key: maskPhone(phone), retryAfterSeconds: retryAfter });
    throw limited(retryAfter, true);
  }

  async function onFailure(phone: string): Promise<void> {
    const masked = maskPhone(phone);
    if (limits.failureBudget !== false) {
      const now = clock();
      const { failures, lockSeconds } = limits.failureBudget;
      if (await lockWhenSpent(knex, tables.failures, phone, failures, now + lockSeconds * 1000, now)) {
        logger.warn({ phone: masked, failures, lockSeconds }, 'otp failure budget spent: number disabled');
        events.emit('number-locked', { lock: 'failureBudget', phone: masked, failures, lockSeconds });
      }
    }
    if (counters.verifyLock !== undefined && counters.lockLevel !== undefined && limits.verifyLock !== false) {
      const counted = await counters.verifyLock.add(phone);
      // Atomic counts are distinct: exactly one failure reaches the threshold and sets the lock.
      if (counted.consumed === limits.verifyLock.failures) {
        const level = await counters.lockLevel.add(phone);
        const lockSeconds = lockSecondsFor(level.consumed, limits.verifyLock);
        await counters.verifyLock.block(phone, lockSeconds);
        logger.warn({ phone: masked, failures: limits.verifyLock.failures, lockSeconds }, 'otp wrong codes: number locked');
        events.emit('number-locked', { lock: 'verifyLock', phone: masked, failures: limits.verifyLock.failures, lockSeconds });
      }
    }
  }

  /**
   * NIST SP 800-63B: earlier failures SHOULD be disregarded after a successful authentication.
   * With the state read along with the request, rows that were not there are not touched (a
   * failure counted in between stays counted: the strict side).
   */
  async function onSuccess(phone: string, state: LockState | undefined): Promise<void> {
    if (limits.failureBudget !== false && (state === undefined || state.failures !== undefined)) await clearFailures(knex, tables.failures, phone);
    const keys = [lockKey(phone), levelKey(phone)].filter((k): k is string => k !== undefined && (state === undefined || state.limits.has(k)));
    await store.resetRows(keys);
  }

  async function succeeded(phone: string, state: LockState | undefined): Promise<void> {
    try {
      await onSuccess(phone, state);
    } catch (error) {
      logger.error({ phone: maskPhone(phone), err: error instanceof Error ? error.message : String(error) }, 'otp limits: forgetting failures after a success failed');
    }
  }

  async function reserveGuess(phone: string, state?: LockState): Promise<GuessTicket> {
    const budget = limits.failureBudget;
    if (budget !== false) {
      const now = clock();
      const known = state === undefined ? 'unknown' : state.failures === undefined ? 'absent' : 'present';
      if (!(await reserveFailure(knex, tables.failures, phone, budget.failures, now, known))) {
        const current = await readFailureState(knex, tables.failures, phone);
        // Spent but not locked yet: guesses of other requests are still in flight.
        const lockedUntil = current?.lockedUntil ?? null;
        const retryAfter = lockedUntil !== null && lockedUntil > now ? retryAfterSeconds(lockedUntil - now) : 1;
        events.emit('limit-hit', { limit: 'failureBudget', key: maskPhone(phone), retryAfterSeconds: retryAfter });
        throw limited(retryAfter, true);
      }
    }
    let settled = false;
    return {
      async settle(result) {
        if (settled) return;
        settled = true;
        try {
          if (result?.codeValid === true) await onSuccess(phone, undefined);
          // OTP_INVALID is only ever answered after the wrong guess was counted on its request.
          else if (result?.reason === 'OTP_INVALID') await onFailure(phone);
          else if (budget !== false) await releaseFailure(knex, tables.failures, phone, clock());
        } catch (error) {
          // The verify answer stands; a spent budget still refuses the next reservation.
          logger.error({ phone: maskPhone(phone), err: error instanceof Error ? error.message : String(error) }, 'otp limits: settling a guess failed');
        }
      },
    };
  }

  return {
    tables: [tables.limits, tables.failures],
    admitSend,
    admitVerify,
    lockReads,
    lockJoin: () => ({
      ...lockTables,
      keyPrefixes: [counters.verifyLock, counters.lockLevel].filter((c): c is Counter => c !== undefined).map((c) => store.rowKey(c, '')),
    }),
    refuseIfLocked: (phone, state) => refuseIfLocked(phone, state, true),
    budgetGuard: limits.failureBudget === false ? undefined : { table: tables.failures, max: limits.failureBudget.failures },
    refuseIfSpent,
    succeeded,
    reserveGuess,
  };
}
