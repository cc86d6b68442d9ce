/**
 * The safe list of the fraud guard: numbers, number prefixes and client IPs or networks that no
 * send or verify limit refuses (QA phones, a support desk, the office network, a trusted backend).
 * The destination policy still applies to them unless a number or prefix entry says
 * `bypassPolicy: true`. Its type, schema, parsing and matching; pure. Where it is read from (the
 * `safeList` option and the `otp_safe_list` settings row) is lib/service/safe-list.ts.
 */
import Joi from 'joi';
import { OtpError } from '../errors.js';
import { inNetwork, parseIp, parseNetwork, type IpNetwork } from './ip.js';
import { canonicalPhone } from './phone.js';

export const SAFE_LIST_SETTING_KEY = 'otp_safe_list';
/** Entries per list: a safe list names a handful of people and networks, not a customer base. */
export const MAX_SAFE_LIST_ENTRIES = 1000;

export interface SafeNumberEntry {
  /** The number, in international format. */
  readonly number: string;
  /** Also skip the destination policy (country lists, blocked number types) for it. @default false */
  readonly bypassPolicy?: boolean;
}

export interface SafePrefixEntry {
  /** `+` and 1 to 15 digits: every number that starts with it (`+3598` is Bulgaria's mobiles). */
  readonly prefix: string;
  /** Also skip the destination policy for these numbers. @default false */
  readonly bypassPolicy?: boolean;
}

/** The `safeList` option, and what `otp.setSafeList()` takes (the settings row holds the same JSON). */
export interface SafeListInput {
  /** Numbers (a string, or `{ number, bypassPolicy }`). */
  readonly numbers?: readonly (string | SafeNumberEntry)[];
  /** Number prefixes (a string, or `{ prefix, bypassPolicy }`). */
  readonly prefixes?: readonly (string | SafePrefixEntry)[];
  /** Client IPs and CIDR networks, IPv4 and IPv6 (`203.0.113.7`, `10.0.0.0/8`, `2001:db8::/32`). */
  readonly ips?: readonly string[];
}

export interface SafeList {
  /** E.164 → whether the entry bypasses the destination policy. */
  readonly numbers: ReadonlyMap<string, boolean>;
  readonly prefixes: readonly { readonly prefix: string; readonly bypassPolicy: boolean }[];
  readonly networks: readonly IpNetwork[];
  /** The list as given (normalised), for the settings row. */
  readonly stored: SafeListInput;
}

/** Why a request is safe-listed. */
export interface SafeMatch {
  readonly kind: 'number' | 'prefix' | 'ip';
  readonly bypassPolicy: boolean;
}

export const EMPTY_SAFE_LIST: SafeList = { numbers: new Map(), prefixes: [], networks: [], stored: {} };

const PREFIX = /^\+[1-9][0-9]{0,14}$/;

const numberEntry = Joi.alternatives(Joi.string().max(32), Joi.object({ number: Joi.string().max(32).required(), bypassPolicy: Joi.boolean() }));
const prefixEntry = Joi.alternatives(Joi.string().max(16), Joi.object({ prefix: Joi.string().max(16).required(), bypassPolicy: Joi.boolean() }));

export const safeListSchema = Joi.object<SafeListInput>({
  numbers: Joi.array().items(numberEntry).max(MAX_SAFE_LIST_ENTRIES),
  prefixes: Joi.array().items(prefixEntry).max(MAX_SAFE_LIST_ENTRIES),
  ips: Joi.array().items(Joi.string().max(64)).max(MAX_SAFE_LIST_ENTRIES),
});

/** How a bad list is reported: a config error for the option, a validation error for setSafeList(). */
export type SafeListFailure = (message: string, field: string) => OtpError;

export const safeListValidationError: SafeListFailure = (message, field) => new OtpError('VALIDATION_FAILED', message, { field });

function joiField(error: Joi.ValidationError): string {
  return error.details[0]?.path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${part}`)).join('') ?? '';
}

/** Validates a list (the option, the settings row or setSafeList's argument); throws naming the bad entry. */
export function parseSafeList(input: unknown, from: string, fail: SafeListFailure): SafeList {
  const result = safeListSchema.validate(input ?? {}, { convert: false, abortEarly: true });
  if (result.error !== undefined) {
    const field = `safeList${joiField(result.error)}`;
    throw fail(`safe list from ${from}: ${field}: ${result.error.message} (expected { numbers, prefixes, ips })`, field);
  }
  const value = result.value;
  const numbers = new Map<string, boolean>();
  const storedNumbers: SafeNumberEntry[] = [];
  (value.numbers ?? []).forEach((entry, i) => {
    const raw = typeof entry === 'string' ? entry : entry.number;
    const e164 = canonicalPhone(raw)?.e164;
    if (e164 === undefined) throw fail(`safe list from ${from}: safeList.numbers[${i}] ${JSON.stringify(raw)} is not a valid number in international format`, `safeList.numbers[${i}]`);
    const bypassPolicy = typeof entry === 'string' ? false : entry.bypassPolicy === true;
    numbers.set(e164, bypassPolicy || numbers.get(e164) === true);
    storedNumbers.push(bypassPolicy ? { number: e164, bypassPolicy } : { number: e164 });
  });
  const prefixes = (value.prefixes ?? []).map((entry, i) => {
    const prefix = typeof entry === 'string' ? entry : entry.prefix;
    if (!PREFIX.test(prefix)) throw fail(`safe list from ${from}: safeList.prefixes[${i}] ${JSON.stringify(prefix)} is not "+" followed by 1 to 15 digits`, `safeList.prefixes[${i}]`);
    return { prefix, bypassPolicy: typeof entry === 'string' ? false : entry.bypassPolicy === true };
  });
  const networks = (value.ips ?? []).map((text, i) => {
    const network = parseNetwork(text);
    if (network === undefined) throw fail(`safe list from ${from}: safeList.ips[${i}] ${JSON.stringify(text)} is not an IP address or CIDR network (e.g. "203.0.113.7", "10.0.0.0/8", "2001:db8::/32")`, `safeList.ips[${i}]`);
    return network;
  });
  const stored: SafeListInput = { numbers: storedNumbers, prefixes: prefixes.map((p) => (p.bypassPolicy ? p : { prefix: p.prefix })), ips: (value.ips ?? []).map((ip) => ip.trim()) };
  return { numbers, prefixes, networks, stored };
}

/** The union of two lists (the option's and the settings row's). */
export function mergeSafeLists(a: SafeList, b: SafeList): SafeList {
  if (b.numbers.size === 0 && b.prefixes.length === 0 && b.networks.length === 0) return a;
  if (a.numbers.size === 0 && a.prefixes.length === 0 && a.networks.length === 0) return b;
  const numbers = new Map(a.numbers);
  for (const [e164, bypass] of b.numbers) numbers.set(e164, bypass || numbers.get(e164) === true);
  return { numbers, prefixes: [...a.prefixes, ...b.prefixes], networks: [...a.networks, ...b.networks], stored: {} };
}

/**
 * Whether a request is safe-listed: its number, a prefix of it, or its client IP. A number or
 * prefix entry may bypass the destination policy; an IP entry never does (a trusted network may
 * still not send codes to premium-rate numbers).
 */
export function matchSafeList(list: SafeList, e164: string | undefined, ip: string | undefined): SafeMatch | undefined {
  if (e164 !== undefined) {
    const exact = list.numbers.get(e164);
    if (exact !== undefined) return { kind: 'number', bypassPolicy: exact };
    let found: SafeMatch | undefined;
    for (const entry of list.prefixes) {
      if (!e164.startsWith(entry.prefix)) continue;
      if (entry.bypassPolicy) return { kind: 'prefix', bypassPolicy: true };
      found = { kind: 'prefix', bypassPolicy: false };
    }
    if (found !== undefined) return found;
  }
  if (ip !== undefined && list.networks.length > 0) {
    const address = parseIp(ip);
    if (address !== undefined && list.networks.some((network) => inNetwork(address, network))) return { kind: 'ip', bypassPolicy: false };
  }
  return undefined;
}
