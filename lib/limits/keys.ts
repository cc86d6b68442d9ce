/**
 * Bucket keys of the abuse limits. Pure. One client, one number, one number range or one country
 * must map to exactly one key, whatever form the input took, or a limit can be dodged by
 * rewriting the same thing differently.
 */
import { parseIpv4, parseIpv6 } from '../core/ip.js';

/**
 * The per-IP bucket of a client address: an IPv4 address as it is (IPv4-mapped IPv6 included),
 * an IPv6 address reduced to its first `ipv6PrefixLength` bits (/56 by default, as
 * express-rate-limit's `ipKeyGenerator` does: one subscriber usually gets a /56 or /64, so a
 * full address is free to rotate). Anything else is keyed as it is; undefined without an address.
 */
export function ipBucket(ip: string | undefined, ipv6PrefixLength = 56): string | undefined {
  if (ip === undefined) return undefined;
  const text = ip.trim().slice(0, 64);
  if (text === '') return undefined;
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return v4.join('.');
  const v6 = parseIpv6(text);
  if (v6 === undefined) return `other:${text}`;
  // ::ffff:a.b.c.d is an IPv4 client seen through a dual-stack socket.
  if (v6.slice(0, 5).every((g) => g === 0) && v6[5] === 0xffff) {
    const hi = v6[6] as number;
    const lo = v6[7] as number;
    return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
  }
  const bits = Math.max(0, Math.min(128, ipv6PrefixLength));
  const masked = v6.map((group, i) => {
    const keep = Math.max(0, Math.min(16, bits - i * 16));
    return keep === 0 ? 0 : group & ((0xffff << (16 - keep)) & 0xffff);
  });
  return `${masked.map((g) => g.toString(16)).join(':')}/${bits}`;
}

/**
 * The client address as the request row keeps it: its limit bucket (an IPv4 address, or the IPv6
 * /56), which is all the limits need, cut to the column's 64 characters so an oversized value from a
 * proxy header can never fail the insert (audit 19.2). Null without an address.
 */
export function storedClientIp(ip: string | undefined, ipv6PrefixLength = 56): string | null {
  return ipBucket(ip, ipv6PrefixLength)?.slice(0, 64) ?? null;
}

/**
 * The number range of an E.164 number: the number without its last `hiddenDigits` digits (SMS
 * pumping walks through one range, e.g. `+4479460000`-`+4479469999`). Never shorter than the `+`
 * and two digits.
 */
export function prefixBucket(e164: string, hiddenDigits = 4): string {
  return e164.slice(0, Math.max(3, e164.length - hiddenDigits));
}

/** Counter names as events and logs show them; the store names (`n`, `si`, …) are row-key prefixes. */
export type CounterName =
  | 'sendCooldownSeconds'
  | 'channelSwitchCooldownSeconds'
  | 'sendsPerNumber'
  | 'sendsPerIp'
  | 'sendsPerPrefix'
  | 'sendsPerCountry'
  | 'dailySendBudget'
  | 'verifiesPerIp'
  | 'verifyLock'
  | 'conversionBreaker'
  | 'lockLevel';

/** What a counter's row key (`<store>:<key>`) holds after its prefix. */
export type CounterKeyKind = 'number' | 'ip' | 'range' | 'country' | 'global';

export interface CounterKey {
  /** The row-key prefix in the limits table (letters only). */
  readonly store: string;
  readonly keyedBy: CounterKeyKind;
  /**
   * The slot of a row shared by several counters of one key (migration 0013): a send's
   * per-number counters are one row `n:<number>`, one insert for a new number instead of three.
   * Absent: the counter has its own row.
   */
  readonly slot?: 1 | 2 | 3;
}

/**
 * The one registry of the abuse limits' counters (issue 23.5): every counter name, the row-key
 * prefix it stores under and what it is keyed by. Typed over every `CounterName`, so a new limit
 * cannot be added without an entry here; the counter set builds its counters from these prefixes,
 * and `otp.forget(phone)` erases the number's row of every entry (test/security/audit2-forget-counters).
 */
export const COUNTER_KEYS: Readonly<Record<CounterName, CounterKey>> = {
  sendCooldownSeconds: { store: 'n', keyedBy: 'number', slot: 1 },
  channelSwitchCooldownSeconds: { store: 'n', keyedBy: 'number', slot: 2 },
  sendsPerNumber: { store: 'n', keyedBy: 'number', slot: 3 },
  sendsPerIp: { store: 'si', keyedBy: 'ip' },
  sendsPerPrefix: { store: 'sp', keyedBy: 'range' },
  sendsPerCountry: { store: 'sk', keyedBy: 'country' },
  dailySendBudget: { store: 'sg', keyedBy: 'global' },
  verifiesPerIp: { store: 'vi', keyedBy: 'ip' },
  verifyLock: { store: 'vl', keyedBy: 'number' },
  conversionBreaker: { store: 'cb', keyedBy: 'range' },
  lockLevel: { store: 'vv', keyedBy: 'number' },
};

/**
 * The store names whose rows `otp.forget(phone)` erases for the number (`<store>:<e164>`): every
 * registered counter. Those keyed by the number certainly hold one; the others are keyed by an IP
 * bucket, a range, a country or nothing and hold none, unless configured so that their key is the
 * number itself (a range with no hidden digit), which is then the number's data too.
 */
export function counterStoresOfNumber(): string[] {
  return [...new Set([...Object.values(COUNTER_KEYS).map((k) => k.store), ...PRE_0013_NUMBER_STORES])];
}

/** Where the per-number send counters were kept before migration 0013 (rows that may still be live). */
const PRE_0013_NUMBER_STORES = ['sc', 'sw', 'sn'];
