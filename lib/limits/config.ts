/**
 * Options of the abuse defences (`limits`, `destinations`, `challenge`): public types with their
 * defaults, the joi schemas used by `resolveOptions`, and the resolution to fully specified
 * values. Pure. Every limit has a default and every limit can be switched off with `false`.
 */
import Joi from 'joi';
import { isSupportedCountry, type CountryCode, type PhoneNumberType } from 'libphonenumber-js/max';
import type { Channel } from '../types.js';

/** At most `max` events per fixed window of `windowSeconds`. */
export interface WindowLimit {
  readonly max: number;
  readonly windowSeconds: number;
}

export interface PrefixLimit extends WindowLimit {
  /** Trailing digits dropped from the number to name its range (`+3598712` for `+359871234567` with 5). */
  readonly hiddenDigits: number;
}

export interface VerifyLock {
  /** Wrong codes for one number, across its requests, within `windowSeconds` before it is locked. */
  readonly failures: number;
  readonly windowSeconds: number;
  /** The first lock; every further lock within `escalationWindowSeconds` doubles it. */
  readonly lockSeconds: number;
  /** The longest lock. */
  readonly maxLockSeconds: number;
  /** How long earlier locks count towards the doubling (a success forgets them at once). */
  readonly escalationWindowSeconds: number;
}

/**
 * The pumping circuit breaker (security #26): when a number range sends a lot but few of its codes
 * are ever verified, its sends are held. Checked every `checkEvery` sends once `minSends` were counted.
 */
export interface ConversionBreaker {
  /** Sends of a range within `windowSeconds` before its conversion is judged. */
  readonly minSends: number;
  /** Verified ÷ sent below this holds the range. */
  readonly minRatio: number;
  readonly windowSeconds: number;
  /** How long a tripped range is held (sends answer 429). */
  readonly holdSeconds: number;
  /** The range is the number without its last `hiddenDigits`. */
  readonly hiddenDigits: number;
  /** Judge every this many sends (the judgement is one aggregate query). */
  readonly checkEvery: number;
}

export interface FailureBudget {
  /** Consecutive wrong codes for one number (across requests and resends) before it is disabled. */
  readonly failures: number;
  /** How long a number stays disabled once its budget is spent; the count then starts again. */
  readonly lockSeconds: number;
}

/** The `limits` option. Every field is optional; `false` switches that limit off. */
export interface LimitOptions {
  /** Seconds before one number can get another code (any channel). @default 60 */
  readonly sendCooldownSeconds?: number | false;
  /** `POST /resend` on another channel ("call me instead"): seconds after the latest code, instead of the cooldown; no code follows a switch sooner. @default 30 */
  readonly channelSwitchCooldownSeconds?: number | false;
  /** Sends per number. @default { max: 5, windowSeconds: 600 } */
  readonly sendsPerNumber?: Partial<WindowLimit> | false;
  /** Sends per client IP (IPv6 grouped by `ipv6Subnet`); generous for NAT and carrier-grade NAT. @default { max: 30, windowSeconds: 300 } */
  readonly sendsPerIp?: Partial<WindowLimit> | false;
  /** Sends per number range (the number without its last `hiddenDigits`), against SMS pumping. @default { max: 20, windowSeconds: 3600, hiddenDigits: 4 } */
  readonly sendsPerPrefix?: Partial<PrefixLimit> | false;
  /** Sends per destination country; `{}` means 1000 per 24 h. @default false */
  readonly sendsPerCountry?: Partial<WindowLimit> | false;
  /** Sends of the whole app per 24 hours; at the cap sends are refused and `budget-exhausted` fires once. @default 5000 */
  readonly dailySendBudget?: number | false;
  /** Verifications per client IP. @default { max: 30, windowSeconds: 300 } */
  readonly verifiesPerIp?: Partial<WindowLimit> | false;
  /** Lock of a number after wrong codes across its requests, doubling per lock. @default { failures: 10, windowSeconds: 900, lockSeconds: 300, maxLockSeconds: 3600, escalationWindowSeconds: 86400 } */
  readonly verifyLock?: Partial<VerifyLock> | false;
  /**
   * NIST SP 800-63B: at most 100 consecutive failed attempts per number, then disable it. A resend
   * does not reset the count; a correct code does. @default { failures: 100, lockSeconds: 86400 }
   */
  readonly failureBudget?: Partial<FailureBudget> | false;
  /**
   * Holds a number range whose codes are rarely verified (SMS pumping: bots request codes nobody
   * enters). @default { minSends: 50, minRatio: 0.2, windowSeconds: 3600, holdSeconds: 3600, hiddenDigits: 6, checkEvery: 10 }
   */
  readonly conversionBreaker?: Partial<ConversionBreaker> | false;
  /** Leading bits of an IPv6 address that name one client (a subscriber often holds a whole /56). @default 56 */
  readonly ipv6Subnet?: number;
}

export interface ResolvedLimits {
  readonly sendCooldownSeconds: number | false;
  readonly channelSwitchCooldownSeconds: number | false;
  readonly sendsPerNumber: WindowLimit | false;
  readonly sendsPerIp: WindowLimit | false;
  readonly sendsPerPrefix: PrefixLimit | false;
  readonly sendsPerCountry: WindowLimit | false;
  readonly dailySendBudget: number | false;
  readonly verifiesPerIp: WindowLimit | false;
  readonly verifyLock: VerifyLock | false;
  readonly failureBudget: FailureBudget | false;
  readonly conversionBreaker: ConversionBreaker | false;
  readonly ipv6Subnet: number;
}

export const LIMIT_DEFAULTS = {
  sendCooldownSeconds: 60,
  channelSwitchCooldownSeconds: 30,
  sendsPerNumber: { max: 5, windowSeconds: 600 },
  sendsPerIp: { max: 30, windowSeconds: 300 },
  sendsPerPrefix: { max: 20, windowSeconds: 3600, hiddenDigits: 4 },
  sendsPerCountry: { max: 1000, windowSeconds: 86_400 },
  dailySendBudget: 5000,
  verifiesPerIp: { max: 30, windowSeconds: 300 },
  verifyLock: { failures: 10, windowSeconds: 900, lockSeconds: 300, maxLockSeconds: 3600, escalationWindowSeconds: 86_400 },
  failureBudget: { failures: 100, lockSeconds: 86_400 },
  conversionBreaker: { minSends: 50, minRatio: 0.2, windowSeconds: 3600, holdSeconds: 3600, hiddenDigits: 6, checkEvery: 10 },
  ipv6Subnet: 56,
} as const satisfies { [K in keyof ResolvedLimits]: Exclude<ResolvedLimits[K], false> };

/** Number types an OTP never goes to: they cannot receive it, or they cost the sender (pumping). */
export const DEFAULT_BLOCKED_TYPES: readonly PhoneNumberType[] = ['PREMIUM_RATE', 'SHARED_COST', 'TOLL_FREE', 'VOIP', 'PAGER', 'VOICEMAIL'];

const NUMBER_TYPES: readonly PhoneNumberType[] = ['PREMIUM_RATE', 'TOLL_FREE', 'SHARED_COST', 'VOIP', 'PERSONAL_NUMBER', 'PAGER', 'UAN', 'VOICEMAIL', 'FIXED_LINE_OR_MOBILE', 'FIXED_LINE', 'MOBILE'];

/** ISO 3166-1 alpha-2 lists, per channel or for both. */
export interface CountryListOptions {
  /** Only these countries get codes (deny by default once set). @default every country */
  readonly allow?: readonly string[];
  /** These countries never get codes. @default none */
  readonly deny?: readonly string[];
}

/** The `destinations` option: where codes may go. A refused number gets the same answer as any other and no provider call. */
export interface DestinationOptions extends CountryListOptions {
  /** Lists for text messages only; each list given here replaces the shared one. */
  readonly sms?: CountryListOptions;
  /** Lists for voice calls only; each list given here replaces the shared one. */
  readonly call?: CountryListOptions;
  /** Lists for WhatsApp messages only; each list given here replaces the shared one. */
  readonly whatsapp?: CountryListOptions;
  /** Number types refused on every channel. @default ['PREMIUM_RATE', 'SHARED_COST', 'TOLL_FREE', 'VOIP', 'PAGER', 'VOICEMAIL'] */
  readonly blockedTypes?: readonly PhoneNumberType[];
  /** Numbers of no country (+800, +870, +881, +882, +883 …: satellite and international networks, a pumping favourite). @default false */
  readonly allowNonGeographic?: boolean;
}

export interface CountryPolicy {
  readonly allow: ReadonlySet<CountryCode> | undefined;
  readonly deny: ReadonlySet<CountryCode>;
}

export interface ResolvedDestinations {
  readonly channels: Readonly<Record<Channel, CountryPolicy>>;
  readonly blockedTypes: ReadonlySet<PhoneNumberType>;
  readonly allowNonGeographic: boolean;
}

/** What the `challenge` hook is told about a send it may want a bot challenge for. */
export interface ChallengeInput {
  /** E.164. */
  readonly phone: string;
  readonly country: CountryCode | undefined;
  readonly channel: Channel;
  readonly purpose: string;
  /** The client IP as the app sees it (`req.ip`), if known. */
  readonly ip: string | undefined;
  /** A challenge answer (e.g. a CAPTCHA token) passed with the send, if any. */
  readonly challengeToken: string | undefined;
}

/**
 * Asked before every send: answer true to let it go ahead. A false answer, a rejection or a throw
 * refuses the send (fail closed) with 428 `CHALLENGE_REQUIRED`; nothing is stored or sent.
 */
export type ChallengeHook = (input: ChallengeInput) => boolean | Promise<boolean>;

const seconds = (max: number) => Joi.number().integer().min(1).max(max);
const DAY = 86_400;

/** `false`, or an object checked field by field (so errors name the field, not "no alternative matched"). */
const offOr = (schema: Joi.Schema, when: Joi.Schema = Joi.object(), what = 'an object') =>
  Joi.alternatives().conditional(when, { then: schema, otherwise: Joi.valid(false).messages({ 'any.only': `{{#label}} must be ${what} or false` }) });

const windowSchema = (maxEvents: number, maxWindow: number) => Joi.object({ max: Joi.number().integer().min(1).max(maxEvents), windowSeconds: seconds(maxWindow) });

export const limitOptionsSchema = offOr(
  Joi.object({
    sendCooldownSeconds: offOr(seconds(DAY), Joi.number(), 'a number of seconds'),
    channelSwitchCooldownSeconds: offOr(seconds(DAY), Joi.number(), 'a number of seconds'),
    sendsPerNumber: offOr(windowSchema(1000, 7 * DAY)),
    sendsPerIp: offOr(windowSchema(1_000_000, 7 * DAY)),
    sendsPerPrefix: offOr(windowSchema(1_000_000, 7 * DAY).keys({ hiddenDigits: Joi.number().integer().min(1).max(8) })),
    sendsPerCountry: offOr(windowSchema(100_000_000, 31 * DAY)),
    dailySendBudget: offOr(Joi.number().integer().min(1).max(1_000_000_000), Joi.number(), 'a number of sends'),
    verifiesPerIp: offOr(windowSchema(1_000_000, 7 * DAY)),
    verifyLock: offOr(
      Joi.object({
        failures: Joi.number().integer().min(1).max(100),
        windowSeconds: seconds(7 * DAY),
        lockSeconds: seconds(7 * DAY),
        maxLockSeconds: seconds(31 * DAY),
        escalationWindowSeconds: seconds(31 * DAY),
      }),
    ),
    failureBudget: offOr(Joi.object({ failures: Joi.number().integer().min(1).max(100), lockSeconds: seconds(366 * DAY) })),
    conversionBreaker: offOr(
      Joi.object({
        minSends: Joi.number().integer().min(1).max(1_000_000),
        minRatio: Joi.number().min(0).max(1),
        windowSeconds: seconds(7 * DAY),
        holdSeconds: seconds(7 * DAY),
        hiddenDigits: Joi.number().integer().min(1).max(10),
        checkEvery: Joi.number().integer().min(1).max(10_000),
      }),
    ),
    ipv6Subnet: Joi.number().integer().min(16).max(128),
  }),
);

const countryList = Joi.array()
  .items(
    Joi.string()
      .custom((value: string, helpers) => (isSupportedCountry(value) ? value : helpers.error('any.invalid')), 'ISO 3166-1 alpha-2 country')
      .messages({ 'any.invalid': '{{#label}} is not an ISO 3166-1 alpha-2 country code (e.g. "BG", "GB")' }),
  )
  .unique();

const countryLists = { allow: countryList, deny: countryList };

export const destinationOptionsSchema = Joi.object({
  ...countryLists,
  sms: Joi.object(countryLists),
  call: Joi.object(countryLists),
  whatsapp: Joi.object(countryLists),
  blockedTypes: Joi.array().items(Joi.string().valid(...NUMBER_TYPES)).unique(),
  allowNonGeographic: Joi.boolean(),
});

/** Partial settings over the defaults, or `false`. */
function windowOf<T extends object>(value: Partial<T> | false | undefined, defaults: T): T | false {
  if (value === false) return false;
  return { ...defaults, ...(value ?? {}) };
}

/** Applies the defaults; `limits: false` switches every limit off (the app limits elsewhere, or a test). */
export function resolveLimits(options: LimitOptions | false | undefined): ResolvedLimits {
  if (options === false) {
    return {
      sendCooldownSeconds: false,
      channelSwitchCooldownSeconds: false,
      sendsPerNumber: false,
      sendsPerIp: false,
      sendsPerPrefix: false,
      sendsPerCountry: false,
      dailySendBudget: false,
      verifiesPerIp: false,
      verifyLock: false,
      failureBudget: false,
      conversionBreaker: false,
      ipv6Subnet: LIMIT_DEFAULTS.ipv6Subnet,
    };
  }
  const o = options ?? {};
  const lock = windowOf<VerifyLock>(o.verifyLock, LIMIT_DEFAULTS.verifyLock);
  return {
    sendCooldownSeconds: o.sendCooldownSeconds ?? LIMIT_DEFAULTS.sendCooldownSeconds,
    channelSwitchCooldownSeconds: o.channelSwitchCooldownSeconds ?? LIMIT_DEFAULTS.channelSwitchCooldownSeconds,
    sendsPerNumber: windowOf<WindowLimit>(o.sendsPerNumber, LIMIT_DEFAULTS.sendsPerNumber),
    sendsPerIp: windowOf<WindowLimit>(o.sendsPerIp, LIMIT_DEFAULTS.sendsPerIp),
    sendsPerPrefix: windowOf<PrefixLimit>(o.sendsPerPrefix, LIMIT_DEFAULTS.sendsPerPrefix),
    // Off unless asked for: a sensible per-country volume depends entirely on the app.
    sendsPerCountry: o.sendsPerCountry === undefined ? false : windowOf<WindowLimit>(o.sendsPerCountry, LIMIT_DEFAULTS.sendsPerCountry),
    dailySendBudget: o.dailySendBudget ?? LIMIT_DEFAULTS.dailySendBudget,
    verifiesPerIp: windowOf<WindowLimit>(o.verifiesPerIp, LIMIT_DEFAULTS.verifiesPerIp),
    verifyLock: lock === false ? false : { ...lock, maxLockSeconds: Math.max(lock.maxLockSeconds, lock.lockSeconds) },
    failureBudget: windowOf<FailureBudget>(o.failureBudget, LIMIT_DEFAULTS.failureBudget),
    conversionBreaker: windowOf<ConversionBreaker>(o.conversionBreaker, LIMIT_DEFAULTS.conversionBreaker),
    ipv6Subnet: o.ipv6Subnet ?? LIMIT_DEFAULTS.ipv6Subnet,
  };
}

function countrySet(list: readonly string[] | undefined): ReadonlySet<CountryCode> | undefined {
  return list === undefined ? undefined : new Set(list.filter((code) => isSupportedCountry(code)));
}

export function resolveDestinations(options: DestinationOptions | undefined): ResolvedDestinations {
  const o = options ?? {};
  const policy = (own: CountryListOptions | undefined): CountryPolicy => ({
    allow: countrySet(own?.allow ?? o.allow),
    deny: countrySet(own?.deny ?? o.deny) ?? new Set(),
  });
  return {
    channels: { sms: policy(o.sms), call: policy(o.call), whatsapp: policy(o.whatsapp) },
    blockedTypes: new Set(o.blockedTypes ?? DEFAULT_BLOCKED_TYPES),
    allowNonGeographic: o.allowNonGeographic ?? false,
  };
}
