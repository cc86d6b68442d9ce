/**
 * The fraud guard's options, parsed apart from the rest (lib/options.ts hands them over before its
 * own schema runs): monitor mode (`limits.monitor`, `monitor: true` inside a limit given as an
 * object, `destinations.monitor`), the cap of the breaker's renewing holds
 * (`limits.conversionBreaker.maxHoldSeconds`) and the safe list (`safeList`). Pure.
 */
import { configError } from '../errors.js';
import { EMPTY_SAFE_LIST, parseSafeList, type SafeList, type SafeListInput } from '../core/safe-list.js';
import type { ConversionBreaker, DestinationOptions, LimitOptions } from './config.js';

/** Everything monitor mode can watch: each limit by its option name, and the destination policy. */
export const MONITOR_NAMES = [
  'sendCooldownSeconds',
  'channelSwitchCooldownSeconds',
  'sendsPerNumber',
  'sendsPerIp',
  'sendsPerPrefix',
  'sendsPerCountry',
  'dailySendBudget',
  'verifiesPerIp',
  'verifyLock',
  'failureBudget',
  'conversionBreaker',
  'destinations',
] as const;
export type MonitorName = (typeof MONITOR_NAMES)[number];

/** The default cap of a renewing hold: 24 hours. */
export const DEFAULT_MAX_HOLD_SECONDS = 86_400;
const MAX_HOLD_LIMIT = 31 * 86_400;

type Monitorable<T> = T extends object ? T & { /** Count, report with `limit-hit` `monitored: true`, but never refuse. */ readonly monitor?: boolean } : T;

/** The `limits` option with the fraud guard's additions. */
export type GuardedLimitOptions = { readonly [K in Exclude<keyof LimitOptions, 'conversionBreaker'>]?: Monitorable<LimitOptions[K]> } & {
  /** Holds a number range whose codes are rarely verified; `maxHoldSeconds` caps its renewing holds. @default see LimitOptions */
  readonly conversionBreaker?: (Partial<ConversionBreaker> & { readonly monitor?: boolean; /** Cap of a renewed hold. @default 86400 */ readonly maxHoldSeconds?: number }) | false;
  /** Monitor mode: `true` for every limit and the destination policy, or a list of names. @default false */
  readonly monitor?: boolean | readonly MonitorName[];
};

/** The `destinations` option with `monitor`. */
export type GuardedDestinationOptions = DestinationOptions & { /** Report refused destinations (`send-refused` `monitored: true`) but send. @default false */ readonly monitor?: boolean };

export interface FraudGuardOptions {
  /** Numbers, prefixes and client IPs/networks no send or verify limit refuses; also the `otp_safe_list` settings row. @default none */
  readonly safeList?: SafeListInput;
}

export interface ResolvedFraudGuard {
  /** The limits (and `destinations`) in monitor mode. */
  readonly monitor: ReadonlySet<MonitorName>;
  /** Cap of a renewed breaker hold, in seconds. */
  readonly maxHoldSeconds: number;
  /** The safe list of the option (the settings row adds to it). */
  readonly safeList: SafeList;
}

export interface FraudGuardConfig {
  readonly fraudGuard: ResolvedFraudGuard;
}

type Loose = Record<string, unknown>;
const isObject = (value: unknown): value is Loose => typeof value === 'object' && value !== null && !Array.isArray(value);

function monitorList(value: unknown): Set<MonitorName> {
  if (value === undefined || value === false) return new Set();
  if (value === true) return new Set(MONITOR_NAMES);
  if (!Array.isArray(value)) throw configError('createOtp: option `limits.monitor` must be true, false or a list of limit names, e.g. [\'sendCooldownSeconds\', \'conversionBreaker\']');
  const names = new Set<MonitorName>();
  for (const name of value as unknown[]) {
    if (typeof name !== 'string' || !(MONITOR_NAMES as readonly string[]).includes(name)) {
      throw configError(`createOtp: option \`limits.monitor\` names an unknown limit ${JSON.stringify(name)}; known: ${MONITOR_NAMES.join(', ')}`);
    }
    names.add(name as MonitorName);
  }
  return names;
}

/** `monitor` (and `maxHoldSeconds`) taken out of a limit given as an object. */
function stripLimit(name: string, value: unknown, monitor: Set<MonitorName>): { value: unknown; maxHold?: number } {
  if (!isObject(value)) return { value };
  const { monitor: flag, maxHoldSeconds, ...rest } = value;
  if (flag !== undefined && typeof flag !== 'boolean') throw configError(`createOtp: option \`limits.${name}.monitor\` must be a boolean`);
  if (flag === true) monitor.add(name as MonitorName);
  if (name !== 'conversionBreaker') return { value: maxHoldSeconds === undefined ? rest : { ...rest, maxHoldSeconds } };
  if (maxHoldSeconds !== undefined && (typeof maxHoldSeconds !== 'number' || !Number.isInteger(maxHoldSeconds) || maxHoldSeconds < 1 || maxHoldSeconds > MAX_HOLD_LIMIT)) {
    throw configError(`createOtp: option \`limits.conversionBreaker.maxHoldSeconds\` must be a whole number of seconds from 1 to ${MAX_HOLD_LIMIT} (31 days)`);
  }
  return { value: rest, ...(maxHoldSeconds === undefined ? {} : { maxHold: maxHoldSeconds }) };
}

/**
 * Takes the fraud guard's options out of createOtp's options: the rest goes on to the main schema
 * unchanged (so its messages stay as they were), the fraud guard's part is resolved here.
 */
export function splitFraudGuard<T>(given: T): { options: T; fraudGuard: ResolvedFraudGuard } {
  const defaults: ResolvedFraudGuard = { monitor: new Set(), maxHoldSeconds: DEFAULT_MAX_HOLD_SECONDS, safeList: EMPTY_SAFE_LIST };
  if (!isObject(given)) return { options: given, fraudGuard: defaults };
  const { safeList, ...options } = given;
  const out: Loose = { ...options };
  const monitor = new Set<MonitorName>();
  let maxHoldSeconds = DEFAULT_MAX_HOLD_SECONDS;
  if (isObject(given.limits)) {
    const { monitor: all, ...limits } = given.limits;
    for (const name of monitorList(all)) monitor.add(name);
    const stripped: Loose = {};
    for (const [name, value] of Object.entries(limits)) {
      const s = stripLimit(name, value, monitor);
      stripped[name] = s.value;
      if (s.maxHold !== undefined) maxHoldSeconds = s.maxHold;
    }
    out.limits = stripped;
  }
  if (isObject(given.destinations)) {
    const { monitor: flag, ...destinations } = given.destinations;
    if (flag !== undefined && typeof flag !== 'boolean') throw configError('createOtp: option `destinations.monitor` must be a boolean');
    if (flag === true) monitor.add('destinations');
    out.destinations = destinations;
  }
  const list = safeList === undefined ? EMPTY_SAFE_LIST : parseSafeList(safeList, 'the `safeList` option', (message) => configError(`createOtp: ${message}`));
  return { options: out as T, fraudGuard: { monitor, maxHoldSeconds, safeList: list } };
}
