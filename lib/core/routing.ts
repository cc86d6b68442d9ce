/**
 * The seed's routing string, e.g. `Twilio;Mada:+35987,+35988;Sinch`:
 * - parts are separated by `;`, in failover order;
 * - `Name` alone joins the default chain; `Name:+prefix,+prefix` serves numbers with those prefixes;
 * - for a number, the providers of the longest matching prefix come first, then the default chain;
 * - names are matched case-insensitively against the known providers.
 * Pure: parse once, then `chainFor()` per number.
 */
export interface RoutingRule {
  readonly prefix: string;
  readonly providers: readonly string[];
}

export interface Routing {
  /** The routing string in canonical form (names as registered). */
  readonly source: string;
  readonly defaultChain: readonly string[];
  /** Sorted longest prefix first. */
  readonly rules: readonly RoutingRule[];
}

export class RoutingParseError extends Error {
  override readonly name = 'RoutingParseError';
}

const PREFIX = /^\+[1-9][0-9]{0,14}$/;

function suggest(name: string, known: readonly string[]): string {
  const lower = name.toLowerCase();
  const close = known.find((k) => k.toLowerCase().startsWith(lower.slice(0, 3)) || lower.startsWith(k.toLowerCase().slice(0, 3)));
  return close === undefined ? '' : ` (did you mean "${close}"?)`;
}

/**
 * Parses a routing string or a list of its parts. `known` is the list of provider names that can
 * be routed to; an unknown name, an empty part, a malformed prefix or a duplicate throws a
 * RoutingParseError naming the bad part.
 */
export function parseRouting(input: string | readonly string[], known: readonly string[]): Routing {
  const parts = typeof input === 'string' ? input.split(';') : [...input];
  const trimmedAll = parts.map((p) => p.trim());
  // A trailing ';' is harmless; any other empty part is a mistake.
  if (trimmedAll.length > 1 && trimmedAll[trimmedAll.length - 1] === '') trimmedAll.pop();
  if (trimmedAll.length === 0 || (trimmedAll.length === 1 && trimmedAll[0] === '')) {
    throw new RoutingParseError('the routing string is empty; name at least one provider, e.g. "Twilio"');
  }
  const defaultChain: string[] = [];
  const byPrefix = new Map<string, string[]>();
  trimmedAll.forEach((part, index) => {
    if (part === '') throw new RoutingParseError(`part ${index + 1} is empty (two ';' in a row?)`);
    const colon = part.indexOf(':');
    const rawName = (colon === -1 ? part : part.slice(0, colon)).trim();
    const name = known.find((k) => k.toLowerCase() === rawName.toLowerCase());
    if (name === undefined) {
      throw new RoutingParseError(`unknown provider "${rawName}" in part "${part}"${suggest(rawName, known)}; known providers: ${known.join(', ')}`);
    }
    if (colon === -1) {
      if (defaultChain.includes(name)) throw new RoutingParseError(`provider "${name}" is listed twice in the default chain`);
      defaultChain.push(name);
      return;
    }
    const prefixes = part.slice(colon + 1).split(',').map((p) => p.trim());
    for (const prefix of prefixes) {
      if (!PREFIX.test(prefix)) {
        throw new RoutingParseError(`malformed prefix "${prefix}" in part "${part}": a prefix is "+" and 1-15 digits, e.g. "+35987"`);
      }
      const list = byPrefix.get(prefix) ?? [];
      if (list.includes(name)) throw new RoutingParseError(`provider "${name}" is listed twice for prefix ${prefix}`);
      list.push(name);
      byPrefix.set(prefix, list);
    }
  });
  const rules = [...byPrefix.entries()]
    .map(([prefix, providers]) => ({ prefix, providers }))
    .sort((a, b) => b.prefix.length - a.prefix.length || a.prefix.localeCompare(b.prefix));
  const source = trimmedAll
    .map((part) => {
      const colon = part.indexOf(':');
      const rawName = (colon === -1 ? part : part.slice(0, colon)).trim();
      const name = known.find((k) => k.toLowerCase() === rawName.toLowerCase()) ?? rawName;
      return colon === -1 ? name : `${name}:${part.slice(colon + 1).split(',').map((p) => p.trim()).join(',')}`;
    })
    .join(';');
  return { source, defaultChain, rules };
}

/**
 * The ordered failover chain for a number: the providers of the longest matching prefix, then the
 * default chain (without repeats). Deterministic: the same number always gets the same chain.
 */
export function chainFor(routing: Routing, e164: string): string[] {
  const chain: string[] = [];
  const rule = routing.rules.find((r) => e164.startsWith(r.prefix));
  for (const name of rule?.providers ?? []) chain.push(name);
  for (const name of routing.defaultChain) if (!chain.includes(name)) chain.push(name);
  return chain;
}

/** Every provider name a routing mentions, in first-seen order. */
export function routedNames(routing: Routing): string[] {
  const names = [...routing.defaultChain];
  for (const rule of routing.rules) for (const name of rule.providers) if (!names.includes(name)) names.push(name);
  return names;
}
