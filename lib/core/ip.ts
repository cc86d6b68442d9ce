/**
 * IP addresses and networks, pure: dotted-quad IPv4 and IPv6 parsing (shared by the limit buckets,
 * lib/limits/keys.ts) and CIDR networks (the safe list, lib/core/safe-list.ts). An IPv4-mapped IPv6
 * address (`::ffff:a.b.c.d`) is the IPv4 client it carries.
 */

/** Dotted-quad IPv4 with each part 0-255 and no leading zeros (`010.1.1.1` is ambiguous). */
export function parseIpv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes.push(value);
  }
  return bytes;
}

/** The 8 hextets of an IPv6 address (`::` expanded, an embedded IPv4 tail converted), or undefined. */
export function parseIpv6(text: string): number[] | undefined {
  let body = text;
  const zone = body.indexOf('%');
  if (zone !== -1) body = body.slice(0, zone);
  if (!/^[0-9a-f:.]+$/i.test(body) || body.length > 45) return undefined;

  let tail: number[] = [];
  if (body.includes('.')) {
    const lastColon = body.lastIndexOf(':');
    const v4 = lastColon === -1 ? undefined : parseIpv4(body.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = [((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number)];
    body = body.slice(0, lastColon + 1);
    if (!body.endsWith('::')) body = body.slice(0, -1);
  }
  const total = 8 - tail.length;

  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string | undefined): number[] | undefined => {
    if (part === undefined || part === '') return [];
    const out: number[] = [];
    for (const group of part.split(':')) {
      if (!/^[0-9a-f]{1,4}$/i.test(group)) return undefined;
      out.push(parseInt(group, 16));
    }
    return out;
  };
  const head = groups(halves[0]);
  const rest = groups(halves[1]);
  if (head === undefined || rest === undefined) return undefined;
  const known = head.length + rest.length;
  if (halves.length === 2) {
    if (known > total - 1) return undefined;
    return [...head, ...Array<number>(total - known).fill(0), ...rest, ...tail];
  }
  return known === total ? [...head, ...tail] : undefined;
}

/** An address as a number: 32 bits (IPv4) or 128 bits (IPv6). */
export interface IpAddress {
  readonly version: 4 | 6;
  readonly value: bigint;
}

/** A network: the address bits that must match (`bits` leading bits of `base`). */
export interface IpNetwork extends IpAddress {
  readonly bits: number;
}

function fromParts(parts: readonly number[], width: number): bigint {
  return parts.reduce((acc, part) => (acc << BigInt(width)) | BigInt(part), 0n);
}

/** An IPv4 or IPv6 address (IPv4-mapped IPv6 as IPv4), or undefined. */
export function parseIp(text: string): IpAddress | undefined {
  const trimmed = text.trim();
  const v4 = parseIpv4(trimmed);
  if (v4 !== undefined) return { version: 4, value: fromParts(v4, 8) };
  const v6 = parseIpv6(trimmed);
  if (v6 === undefined) return undefined;
  if (v6.slice(0, 5).every((g) => g === 0) && v6[5] === 0xffff) return { version: 4, value: fromParts(v6.slice(6), 16) };
  return { version: 6, value: fromParts(v6, 16) };
}

/** `10.0.0.0/8`, `2001:db8::/32`, or a single address (a /32 or /128); undefined when malformed. */
export function parseNetwork(text: string): IpNetwork | undefined {
  const slash = text.indexOf('/');
  const address = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (address === undefined) return undefined;
  const width = address.version === 4 ? 32 : 128;
  if (slash === -1) return { ...address, bits: width };
  const suffix = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(suffix) || Number(suffix) > width) return undefined;
  const bits = Number(suffix);
  // The base keeps only its network bits, so 10.1.2.3/8 is 10.0.0.0/8.
  const shift = BigInt(width - bits);
  return { version: address.version, bits, value: (address.value >> shift) << shift };
}

/** Whether the address is inside the network (never across IPv4 and IPv6). */
export function inNetwork(address: IpAddress, network: IpNetwork): boolean {
  if (address.version !== network.version) return false;
  const shift = BigInt((address.version === 4 ? 32 : 128) - network.bits);
  return address.value >> shift === network.value >> shift;
}
