/**
 * Send admission: whether a send may go ahead. Order: bot challenge → per-IP → per-number
 * cooldown and cap → number locked by wrong codes → destination policy → per-prefix, per-country
 * and daily budget → pumping breaker. Refused destinations meet every limit like any number (so
 * 429s cannot tell them apart, audit 19.5) but give their unit of the global daily budget back,
 * and they get a look-alike answer (`decoy`) with no row and no provider call; so does a resend
 * without a live code (`decoy: true`, audit 23.1), whose client unit `countClient` took before the
 * lookup. A direct send also restarts the channel-switch gap (audit 23.3).
 *
 * Every counter of a send goes to the database in one statement and the number's lock rows in
 * another, both shared with the sends in flight; the order of the checks is applied to the results.
 *
 * Fraud guard: a limit (or the destination policy) in monitor mode reports what it would have
 * refused and lets the send through; a safe-listed send takes no counter at all (the destination
 * policy still applies unless its entry bypasses it); the breaker's holds renew (lib/limits/holds.ts).
 */
import { randomBytes } from 'node:crypto';
import { uuidV7 } from '../core/request-id.js';
import { performance } from 'node:perf_hooks';
import type { Knex } from 'knex';
import type { CountryCode } from 'libphonenumber-js/max';
import { maskPhone, type CanonicalPhone } from '../core/phone.js';
import type { Refusal } from '../errors.js';
import type { OtpEventMap, OtpEvents } from '../events.js';
import { createBatcher } from '../storage/batcher.js';
import { readLockStates, type LockRead, type LockState } from '../storage/lock-reads.js';
import type { OtpTableNames } from '../storage/migrations.js';
import { conversionSince } from '../storage/request-queries.js';
import type { SafeMatch } from '../core/safe-list.js';
import type { Channel, Logger, SendResult } from '../types.js';
import type { ChallengeHook, ConversionBreaker, ResolvedDestinations, ResolvedLimits } from './config.js';
import { lockHinted, takesNumberRow, type CounterSet, type HitContext, type Taken } from './counters.js';
import { latencySampler, sleep } from './decoy-timing.js';
import { destinationRefusal, type DestinationRefusal } from './destination.js';
import { createHoldKeeper, type HoldKeeper } from './holds.js';
import { ipBucket, prefixBucket } from './keys.js';
import type { LockEventSettings } from './lock-events.js';
import { lockRefusal } from './locks.js';
import { conversionLow, limitVerdict } from './policy.js';
import { loggableError } from '../core/safe-error.js';
import { recordKeepMs } from '../core/supersede-plan.js';
import type { MadeRecord } from '../storage/counter-types.js';

export interface SendAdmissionSettings extends LockEventSettings {
  readonly limits: ResolvedLimits;
  readonly destinations: ResolvedDestinations;
  readonly challenge: ChallengeHook | undefined;
  readonly tables: OtpTableNames;
  readonly ttlSeconds: number;
  readonly clock: () => number;
  readonly logger: Logger;
}

export interface SendCheck {
  /** The number as the caller parsed it (E.164, country and type). */
  readonly number: CanonicalPhone;
  readonly channel: Channel;
  readonly purpose: string;
  readonly ip: string | undefined;
  readonly challengeToken: string | undefined;
  /** A resend on another channel ("call me instead"): its own cooldown replaces the per-number cooldown. */
  readonly channelSwitch?: boolean;
  /** The client's `sendsPerIp` unit was already taken (`countClient`, before a resend's lookup). */
  readonly ipCounted?: boolean;
  /** Answer a look-alike even for an allowed destination (a resend without a live code, audit 23.1). */
  readonly decoy?: boolean;
  /** Safe-listed (lib/core/safe-list.ts): no limit counts or refuses it. */
  readonly safe?: SafeMatch;
}

/** The answer: refused (a result, not an exception), a decoy to answer with, or admitted. */
export type Admission =
  | { readonly refusal: Refusal }
  | { readonly decoy: SendResult }
  | {
      readonly admitted: true;
      /** The take that recorded this send on the number's row (lib/core/supersede-plan.ts). */
      readonly recorded: Recorded;
      /** Call when the real send has answered: its duration is what decoys take. */
      sent(): void;
    };

/** A take that recorded a request for a number: what the record before said, and when the take ran (monotonic clock). */
export interface Recorded {
  /** Undefined when the record before cannot be read with the take (MySQL without RETURNING). */
  readonly made: MadeRecord | undefined;
  /** How long a record counts (`recordKeepMs` of the request lifetime). */
  readonly keepMs: number;
  readonly sentAt: number;
  readonly answeredAt: number;
}

/** A workflow step (issue 26): admitted with a way to give its units back, or refused (skipped). */
export type StepAdmission =
  | { readonly refused: { readonly reason: 'policy' } | { readonly reason: 'limit'; readonly limit: string } }
  | { readonly admitted: true; /** Gives the step's units back (it was not sent after all). */ undo(): Promise<void> };

export interface SendAdmission {
  admit(check: SendCheck): Promise<Admission>;
  /** Takes the client's `sendsPerIp` unit alone: a refusal, or undefined (also without an address or with the limit off). */
  countClient(ip: string | undefined): Promise<Refusal | undefined>;
  /**
   * A later workflow step: the destination policy of its channel and the cost limits (per range,
   * per country, the daily budget), not the per-number cooldown or cap: the request already counted.
   */
  admitStep(number: CanonicalPhone, channel: Channel): Promise<StepAdmission>;
  /** Records a request made for the number without a limit counting it (a test number), as `admit` does. */
  record(phone: string): Promise<Recorded>;
}

const NO_LOCKS: LockState = { counters: new Map(), failures: undefined };

export function createSendAdmission(knex: Knex, settings: SendAdmissionSettings, set: CounterSet, events: OtpEvents, keeper?: HoldKeeper): SendAdmission {
  const { limits, destinations, challenge, tables, clock, logger } = settings;
  const holds = keeper ?? createHoldKeeper(knex, settings, set, events);
  const latency = latencySampler();
  const lockCounter = set.counters.verifyLock?.name;
  const keepMs = recordKeepMs(settings.ttlSeconds);
  /** The lock rows of the numbers of concurrent sends, read in one statement per batch. */
  const lockBatch = createBatcher((reads: readonly LockRead[]) => readLockStates(knex, tables, limits.failureBudget !== false, reads), { maxBatch: 100 });

  async function askChallenge(check: SendCheck, phone: string, country: CountryCode | undefined): Promise<Refusal | undefined> {
    if (challenge === undefined) return undefined;
    let passed = false;
    try {
      // Only a real `true` passes (a hook written in JS may answer anything).
      const answer: unknown = await challenge({ phone, country, channel: check.channel, purpose: check.purpose, ip: check.ip, challengeToken: check.challengeToken });
      passed = answer === true;
    } catch (error) {
      // Fail closed: a broken challenge service must not open the door to pumping.
      logger.warn({ err: loggableError(error) }, 'otp challenge hook threw; the send is refused');
    }
    if (passed) return undefined;
    events.emit('send-refused', { reason: 'challenge', channel: check.channel, phone: maskPhone(phone), country, type: undefined });
    return { code: 'CHALLENGE_REQUIRED' };
  }

  async function admit(check: SendCheck): Promise<Admission> {
    set.sweepNow();
    const { e164: phone, country, type } = check.number;
    const challenged = await askChallenge(check, phone, country);
    if (challenged !== undefined) return { refusal: challenged };
    const masked = maskPhone(phone);
    const context: HitContext = { channel: check.channel, ...(country === undefined ? {} : { country }) };
    const refused = check.safe?.bypassPolicy === true ? undefined : destinationRefusal({ country, type }, check.channel, destinations);
    const watched = refused !== undefined && limitVerdict('destinations', set.monitor) === 'monitor';
    if (check.safe !== undefined) {
      // No counter, but the request is recorded like any other.
      const recorded = await record(phone);
      return finish(check, refused, watched, [], recorded.answeredAt, recorded);
    }
    const ip = ipBucket(check.ip, limits.ipv6Subnet);
    const switching = check.channelSwitch === true;
    // A switch takes its own cooldown; a direct send takes the per-number cooldown and restarts the switch gap (audit 23.3).
    const cooldowns = switching ? [set.named('channelSwitchCooldownSeconds', phone, masked)] : [set.named('sendCooldownSeconds', phone, masked), set.switchGap(phone, masked)];
    const first = [check.ipCounted === true ? undefined : set.named('sendsPerIp', ip, ip ?? ''), ...cooldowns, set.named('sendsPerNumber', phone, masked)];
    const prefix = limits.sendsPerPrefix === false ? undefined : prefixBucket(phone, limits.sendsPerPrefix.hiddenDigits);
    const region = country ?? 'non-geographic';
    const breaker = limits.conversionBreaker;
    const range = breaker === false ? undefined : prefixBucket(phone, breaker.hiddenDigits);
    // A refused destination takes the same counters as any number (audit 19.5: its 429s must look
    // the same); only its unit of the global daily budget is given back below, so junk cannot spend it.
    const costs = [set.named('sendsPerPrefix', prefix, prefix ?? ''), set.named('sendsPerCountry', region, region), set.named('dailySendBudget', 'global', 'global'), set.named('conversionBreaker', range, range ?? '')];
    // Only the wrong-code lock itself decides a send (its escalation level does not). A send that
    // takes the number's row reads the lock rows only when that row's lock hint says so; others
    // read them alongside the takes.
    const wanted = [...first, ...costs];
    const readLocks = (): Promise<LockState> => lockBatch.add({ phone, counters: lockCounter === undefined ? [] : [lockCounter] });
    const sentAt = performance.now();
    const [{ taken, made }, alongside] = await Promise.all([set.takeMaking(wanted, phone, keepMs), takesNumberRow(wanted) ? undefined : readLocks()]);
    const recorded: Recorded = { made, keepMs, sentAt, answeredAt: performance.now() };
    const locks = alongside ?? (lockHinted(taken) ? await readLocks() : NO_LOCKS);
    const firstCount = first.filter((t) => t !== undefined).length;
    const costTaken = taken.slice(firstCount);
    const limited = await set.firstRefusal(taken.slice(0, firstCount), costTaken, context);
    if (limited !== undefined) return { refusal: limited };
    // A locked number cannot use a code, so it gets none (and costs nothing).
    const lockedOut = lockRefusal(locks, phone, limits, set, events, clock(), context);
    if (lockedOut !== undefined) {
      await set.giveBack(costTaken);
      return { refusal: lockedOut };
    }
    const started = performance.now();
    await judgeHeldWhenDue(costTaken, range);
    const overBudget = await set.firstRefusal(costTaken, [], context);
    if (overBudget !== undefined) return { refusal: overBudget };
    await judgeWhenDue(costTaken, range, refused !== undefined && !watched);
    return finish(check, refused, watched, costTaken, started, recorded);
  }

  /**
   * Admitted, or a decoy: for a refused destination, and for a resend without a live code (audit 23.1).
   * In monitor mode a refused destination is reported and the code sent.
   */
  async function finish(check: SendCheck, refused: DestinationRefusal | undefined, watched: boolean, costTaken: readonly Taken[], started: number, recorded: Recorded): Promise<Admission> {
    const masked = maskPhone(check.number.e164);
    if (refused !== undefined) {
      const facts = { reason: refused.reason, channel: check.channel, phone: masked, country: refused.country, type: refused.type };
      if (watched) events.emit('send-refused', { ...facts, monitored: true });
      else return decoyFor(check, facts, costTaken);
    }
    if (check.decoy === true) return decoyFor(check, undefined, costTaken);
    return {
      admitted: true,
      recorded,
      sent() {
        latency.record(performance.now() - started);
      },
    };
  }

  async function decoyFor(check: SendCheck, facts: Omit<OtpEventMap['send-refused'], 'monitored'> | undefined, costTaken: readonly Taken[]): Promise<Admission> {
    await set.giveBack(costTaken.filter((t) => t.take.name === 'dailySendBudget'));
    if (facts === undefined) {
      logger.info({ channel: check.channel, phone: maskPhone(check.number.e164) }, 'otp resend without a live code answered with a decoy');
    } else {
      events.emit('send-refused', facts);
      logger.info(facts, 'otp send to a refused destination answered with a decoy');
    }
    // Its expiry is fixed where a real send fixes it (before the provider call), then it waits as long as one.
    const decoy: SendResult = { requestId: uuidV7(clock(), randomBytes(10)), channel: check.channel, provider: null, status: 'sent', expiresAt: new Date(clock() + settings.ttlSeconds * 1000) };
    await sleep(latency.pick());
    return { decoy };
  }

  /** A send to a held range: every `checkEvery` of them, the range is judged again (the hold renews while conversion stays low). */
  async function judgeHeldWhenDue(costTaken: readonly Taken[], range: string | undefined): Promise<void> {
    const breaker = limits.conversionBreaker;
    const taken = costTaken.find((t) => t.take.name === 'conversionBreaker');
    if (breaker === false || range === undefined || taken === undefined || taken.result.allowed) return;
    const asked = taken.result.consumed - taken.take.counter.max - 1;
    if (asked > 0 && asked % breaker.checkEvery === 0) await holds.judgeHeld(range);
  }

  async function judgeWhenDue(costTaken: readonly Taken[], range: string | undefined, decoy: boolean): Promise<void> {
    const breaker = limits.conversionBreaker;
    const taken = costTaken.find((t) => t.take.name === 'conversionBreaker');
    const counted = taken?.result.allowed === true ? taken.result.consumed : undefined;
    if (breaker !== false && range !== undefined && counted !== undefined && counted >= breaker.minSends && counted % breaker.checkEvery === 0) {
      // A refused destination leaves no rows to judge and none of its codes is ever verified.
      await judgeConversion(range, breaker, decoy ? { sent: counted, verified: 0 } : undefined);
    }
  }

  /**
   * Security #26: verified ÷ sent for the range over the breaker's window, from the request table
   * (one aggregate query, run only every `checkEvery` sends). Below `minRatio` the range is held
   * (lib/limits/holds.ts): its breaker counter is blocked, so its next sends get 429 with the hold
   * as Retry-After, and a range held before gets a doubled hold.
   */
  async function judgeConversion(range: string, breaker: ConversionBreaker, known?: { sent: number; verified: number }): Promise<void> {
    const since = clock() - breaker.windowSeconds * 1000;
    const { sent, verified } = known ?? (await conversionSince(knex, tables, range, since));
    if (conversionLow(sent, verified, breaker)) await holds.trip(range, sent, verified);
  }

  async function countClient(ip: string | undefined): Promise<Refusal | undefined> {
    const bucket = ipBucket(ip, limits.ipv6Subnet);
    return set.firstRefusal(await set.take([set.named('sendsPerIp', bucket, bucket ?? '')]));
  }

  async function admitStep(number: CanonicalPhone, channel: Channel): Promise<StepAdmission> {
    const refusedDestination = destinationRefusal(number, channel, destinations);
    if (refusedDestination !== undefined) {
      if (limitVerdict('destinations', set.monitor) === 'refuse') return { refused: { reason: 'policy' } };
      const { reason, country: where, type } = refusedDestination;
      events.emit('send-refused', { reason, channel, phone: maskPhone(number.e164), country: where, type, monitored: true });
    }
    const { e164: phone, country } = number;
    const prefix = limits.sendsPerPrefix === false ? undefined : prefixBucket(phone, limits.sendsPerPrefix.hiddenDigits);
    const region = country ?? 'non-geographic';
    const taken = await set.take([set.named('sendsPerPrefix', prefix, prefix ?? ''), set.named('sendsPerCountry', region, region), set.named('dailySendBudget', 'global', 'global')]);
    // A limit in monitor mode reports its would-be refusal and lets the step through (fraud guard).
    const index = taken.findIndex((t) => !t.result.allowed && limitVerdict(t.take.name, set.monitor) === 'refuse');
    const refusal = await set.firstRefusal(taken, [], { channel, ...(country === undefined ? {} : { country }) });
    if (refusal !== undefined) {
      // Nothing is sent: the units taken before the refused one go back too.
      await set.giveBack(taken.slice(0, index));
      return { refused: { reason: 'limit', limit: refusal.limit ?? 'limit' } };
    }
    return { admitted: true, undo: () => set.giveBack(taken) };
  }

  async function record(phone: string): Promise<Recorded> {
    const sentAt = performance.now();
    const { made } = await set.takeMaking([], phone, keepMs);
    return { made, keepMs, sentAt, answeredAt: performance.now() };
  }

  return { admit, countClient, admitStep, record };
}
