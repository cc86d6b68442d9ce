/**
 * The named counters of the abuse limits, over the database counter store
 * (lib/storage/counter-store.ts): which counters exist (a limit switched off has none), taking
 * several in one statement, and turning the first refused take into a `Refusal` with its wait.
 * A refusal gives back the units its later takes spent, so it costs what one-by-one takes would.
 */
import type { Knex } from 'knex';
import type { Refusal } from '../errors.js';
import type { OtpEvents } from '../events.js';
import type { OtpTableNames } from '../storage/migrations.js';
import { counterRowKey, createCounterStore, type Counter, type CounterStore, type CounterTake, type MadeRecord, type TakeResult } from '../storage/counter-store.js';
import type { Logger } from '../types.js';
import type { ResolvedLimits } from './config.js';
import { COUNTER_KEYS, type CounterName } from './keys.js';
import { limitVerdict, retryAfterSeconds } from './policy.js';
import type { Channel } from '../types.js';
import { loggableError } from '../core/safe-error.js';

const DAY_SECONDS = 86_400;
const SWEEP_EVERY_MS = 10 * 60_000;

export type { CounterName } from './keys.js';

export interface NamedTake extends CounterTake {
  readonly name: CounterName;
  /** The key as events show it (a masked number, an IP bucket, a range). */
  readonly shownKey: string;
}

export interface Taken {
  readonly take: NamedTake;
  readonly result: TakeResult;
}

/** What a `limit-hit` event says of the request, where known. */
export interface HitContext {
  readonly channel?: Channel;
  /** ISO alpha-2 of the destination. */
  readonly country?: string;
}

export interface CounterSet {
  readonly store: CounterStore;
  /** The limits in monitor mode: over their count they report (`monitored: true`) but never refuse. */
  readonly monitor: ReadonlySet<string>;
  /** Undefined for a limit that is switched off. */
  readonly counters: Readonly<Record<CounterName, Counter | undefined>>;
  /** A take of `name` for `key`, or undefined when the limit is off or there is no key. */
  named(name: CounterName, key: string | undefined, shownKey: string): NamedTake | undefined;
  /**
   * A direct send's take of the switch gap (the switch cooldown's slot of `n:<number>`, audit 23.3): no direct send within a
   * switch's cooldown, no switch within min(send, switch cooldown) of a direct send. Undefined
   * unless both cooldowns are on.
   */
  switchGap(phone: string, shownKey: string): NamedTake | undefined;
  /** Takes one unit of each in one statement (shared with concurrent requests); results in order. */
  take(wanted: ReadonlyArray<NamedTake | undefined>): Promise<Taken[]>;
  /**
   * `take`, recording in the same statement a request about to be made for `phone` (on its `n:`
   * row, kept `keepMs`): `made` says how long ago the one before was recorded (lib/core/supersede-plan.ts).
   */
  takeMaking(wanted: ReadonlyArray<NamedTake | undefined>, phone: string, keepMs: number): Promise<{ taken: Taken[]; made: MadeRecord | undefined }>;
  /** Gives back the units of takes that a refusal made void. Never throws. */
  giveBack(taken: readonly Taken[]): Promise<void>;
  /**
   * The first refusal among `taken` (emitting `limit-hit`); the later takes and `alsoVoid` are given
   * back. A limit in monitor mode refuses nothing: each one over its count emits one `limit-hit`
   * with `monitored: true` and keeps its unit.
   */
  firstRefusal(taken: readonly Taken[], alsoVoid?: readonly Taken[], context?: HitContext): Promise<Refusal | undefined>;
  /** Deletes long-expired counter rows now and then, never on a request's critical path. */
  sweepNow(): void;
  /**
   * Marks the number as possibly locked for `seconds` (the lock hint of its per-number row), written
   * before a lock of the number: a send that takes that row reads the number's lock rows only while
   * the hint holds (`lockHinted`). No-op with every per-number send counter off: such a send
   * always reads them.
   */
  hintLock(phone: string, seconds: number): Promise<void>;
}

/**
 * A lock hint outlasts its lock by this much: a lock's end is on the kit's clock (the failure
 * budget) or on the writer's wall clock, the hint on whichever instance's wall clock reads it.
 */
const HINT_MARGIN_MS = 60_000;

/** Whether any of a send's takes is on the number's own row (a slot of `n:<number>`), whose answer carries its lock hint. */
export const takesNumberRow = (wanted: ReadonlyArray<NamedTake | undefined>): boolean => wanted.some((t) => t !== undefined && t.counter.slot !== 0);

/**
 * Whether the number's row, as the takes answered it, carries a live lock hint. Without one no lock
 * of the number was written before the take (a lock's hint is written first, lib/limits/verify-budget.ts).
 */
export const lockHinted = (taken: readonly Taken[]): boolean => taken.some((t) => t.take.counter.slot !== 0 && t.result.hinted === true);

export interface CounterSetSettings {
  readonly limits: ResolvedLimits;
  readonly tables: OtpTableNames;
  readonly logger: Logger;
  /** Share counter statements among concurrent requests. */
  readonly batching: boolean;
  /** Limit names in monitor mode (the fraud guard). @default none */
  readonly monitor?: ReadonlySet<string>;
}

function buildCounters(store: CounterStore, limits: ResolvedLimits): Record<CounterName, Counter | undefined> {
  // Store names come from the one registry (lib/limits/keys.ts), which forget() iterates.
  const make = (name: CounterName, max: number, windowSeconds: number): Counter => store.counter(COUNTER_KEYS[name].store, max, windowSeconds, COUNTER_KEYS[name].slot ?? 0);
  const window = (name: CounterName, limit: { max: number; windowSeconds: number } | false): Counter | undefined =>
    limit === false ? undefined : make(name, limit.max, limit.windowSeconds);
  return {
    sendCooldownSeconds: limits.sendCooldownSeconds === false ? undefined : make('sendCooldownSeconds', 1, limits.sendCooldownSeconds),
    // One channel switch per number per window, across processes (the live request's age is checked too).
    channelSwitchCooldownSeconds: limits.channelSwitchCooldownSeconds === false ? undefined : make('channelSwitchCooldownSeconds', 1, limits.channelSwitchCooldownSeconds),
    sendsPerNumber: window('sendsPerNumber', limits.sendsPerNumber),
    sendsPerIp: window('sendsPerIp', limits.sendsPerIp),
    sendsPerPrefix: window('sendsPerPrefix', limits.sendsPerPrefix),
    sendsPerCountry: window('sendsPerCountry', limits.sendsPerCountry),
    dailySendBudget: limits.dailySendBudget === false ? undefined : make('dailySendBudget', limits.dailySendBudget, DAY_SECONDS),
    verifiesPerIp: window('verifiesPerIp', limits.verifiesPerIp),
    verifyLock: limits.verifyLock === false ? undefined : make('verifyLock', limits.verifyLock.failures, limits.verifyLock.windowSeconds),
    // Never refuses by count (the max stays within the INT column even when blocked at max + 1): only a
    // `block` from the conversion check holds a range.
    conversionBreaker: limits.conversionBreaker === false ? undefined : make('conversionBreaker', 1_000_000_000, limits.conversionBreaker.windowSeconds),
    // Locks so far (the escalation level); `max` is never reached, only `add` is used.
    lockLevel: limits.verifyLock === false ? undefined : make('lockLevel', 1_000_000, limits.verifyLock.escalationWindowSeconds),
  };
}

/** The switch counter as a direct send takes it: same slot, the shorter of the two cooldowns as its window. */
function switchGapCounter(store: CounterStore, limits: ResolvedLimits): Counter | undefined {
  const { sendCooldownSeconds: send, channelSwitchCooldownSeconds: gap } = limits;
  const { store: name, slot } = COUNTER_KEYS.channelSwitchCooldownSeconds;
  return send === false || gap === false ? undefined : store.counter(name, 1, Math.min(send, gap), slot ?? 0);
}

export function createCounterSet(knex: Knex, settings: CounterSetSettings, events: OtpEvents): CounterSet {
  const { limits, logger } = settings;
  const store = createCounterStore(knex, settings.tables.limits, { batching: settings.batching });
  const counters = buildCounters(store, limits);
  const gapCounter = switchGapCounter(store, limits);
  const monitor = settings.monitor ?? new Set<string>();
  let lastSweep = 0;
  const numberRow = [counters.sendCooldownSeconds, counters.channelSwitchCooldownSeconds, counters.sendsPerNumber].find((c) => c !== undefined)?.name;

  function named(name: CounterName, key: string | undefined, shownKey: string): NamedTake | undefined {
    const counter = counters[name];
    return counter === undefined || key === undefined ? undefined : { name, counter, key, shownKey };
  }

  function switchGap(phone: string, shownKey: string): NamedTake | undefined {
    return gapCounter === undefined ? undefined : { name: 'channelSwitchCooldownSeconds', counter: gapCounter, key: phone, shownKey };
  }

  const present = (wanted: ReadonlyArray<NamedTake | undefined>): NamedTake[] => wanted.filter((t): t is NamedTake => t !== undefined);
  const paired = (takes: readonly NamedTake[], results: readonly TakeResult[]): Taken[] => takes.map((t, i) => ({ take: t, result: results[i] as TakeResult }));

  async function take(wanted: ReadonlyArray<NamedTake | undefined>): Promise<Taken[]> {
    const takes = present(wanted);
    return paired(takes, await store.takeAll(takes));
  }

  async function takeMaking(wanted: ReadonlyArray<NamedTake | undefined>, phone: string, keepMs: number): Promise<{ taken: Taken[]; made: MadeRecord | undefined }> {
    const takes = present(wanted);
    const { results, made } = await store.takeMaking(takes, { rowKey: counterRowKey(COUNTER_KEYS.sendCooldownSeconds.store, phone), keepMs });
    return { taken: paired(takes, results), made };
  }

  async function giveBack(taken: readonly Taken[]): Promise<void> {
    if (taken.length === 0) return;
    // A neighbour may see the units for a moment: the strict side.
    await store.giveBack(taken.map((t) => t.take)).catch((error: unknown) => {
      logger.warn({ err: loggableError(error) }, 'otp limits: giving back units of a refused request failed');
    });
  }

  async function firstRefusal(taken: readonly Taken[], alsoVoid: readonly Taken[] = [], context: HitContext = {}): Promise<Refusal | undefined> {
    const index = taken.findIndex((t) => !t.result.allowed && limitVerdict(t.take.name, monitor) === 'refuse');
    for (const t of index === -1 ? taken : taken.slice(0, index)) {
      if (!t.result.allowed) events.emit('limit-hit', { limit: t.take.name, key: t.take.shownKey, retryAfterSeconds: retryAfterSeconds(t.result.msLeft), monitored: true, ...context });
    }
    if (index === -1) return undefined;
    const { take: refused, result } = taken[index] as Taken & { result: TakeResult & { allowed: false } };
    await giveBack([...taken.slice(index + 1), ...alsoVoid]);
    const retryAfter = retryAfterSeconds(result.msLeft);
    events.emit('limit-hit', { limit: refused.name, key: refused.shownKey, retryAfterSeconds: retryAfter, ...context });
    if (refused.name === 'dailySendBudget' && limits.dailySendBudget !== false && result.consumed === limits.dailySendBudget + 1) {
      // Exactly one refused send sees the first unit over the budget (atomic count): alert once.
      logger.error({ limit: refused.name, max: limits.dailySendBudget, retryAfterSeconds: retryAfter }, 'otp daily send budget exhausted: sends are refused until the window ends');
      events.emit('budget-exhausted', { limit: 'dailySendBudget', max: limits.dailySendBudget, windowSeconds: DAY_SECONDS, retryAfterSeconds: retryAfter });
    }
    return { code: 'RATE_LIMITED', retryAfter, limit: refused.name, max: refused.counter.max, windowSeconds: refused.counter.windowSeconds };
  }

  function sweepNow(): void {
    const now = Date.now();
    if (now - lastSweep < SWEEP_EVERY_MS) return;
    lastSweep = now;
    store.sweep(now).catch((error: unknown) => {
      logger.warn({ err: loggableError(error) }, 'otp limits: sweeping expired counters failed');
    });
  }

  async function hintLock(phone: string, seconds: number): Promise<void> {
    if (numberRow !== undefined) await store.hintLock(numberRow, phone, Date.now() + seconds * 1000 + HINT_MARGIN_MS);
  }

  return { store, monitor, counters, named, switchGap, take, takeMaking, giveBack, firstRefusal, sweepNow, hintLock };
}
