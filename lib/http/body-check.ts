/**
 * A fast path for the request-body schemas (lib/http/schemas.ts). Joi was a few per cent of the
 * server's CPU per request for bodies of two or three short strings. The fast path is compiled
 * from the Joi schema's own description (`schema.describe()`), so it cannot drift from it, and it
 * only ever ACCEPTS: a body it accepts is one Joi accepts unchanged; anything else (an unknown key,
 * a wrong type, a value out of bounds, a schema feature it does not know) goes to Joi, which gives
 * the error with its usual message, field and code. A schema it cannot compile has no fast path.
 */
import type Joi from 'joi';

interface StringRule {
  readonly required: boolean;
  readonly min: number;
  readonly max: number;
  readonly patterns: readonly RegExp[];
  /** `valid(...)`: the only values allowed. */
  readonly only: ReadonlySet<string> | undefined;
}

export interface CompiledBody {
  readonly rules: ReadonlyMap<string, StringRule>;
  readonly required: number;
}

/** A body schema with its compiled fast path (undefined when the schema uses anything else). */
export interface BodyShape<T> {
  readonly schema: Joi.ObjectSchema<T>;
  readonly fast: CompiledBody | undefined;
}

type Description = Record<string, unknown>;

const isRecord = (value: unknown): value is Description => typeof value === 'object' && value !== null && !Array.isArray(value);
const onlyKeys = (value: Description, allowed: readonly string[]): boolean => Object.keys(value).every((k) => allowed.includes(k));

/** `/source/flags` as `describe()` writes a pattern; undefined for flags that make `test` stateful. */
function regexOf(text: unknown): RegExp | undefined {
  if (typeof text !== 'string' || !text.startsWith('/')) return undefined;
  const end = text.lastIndexOf('/');
  const flags = text.slice(end + 1);
  if (end <= 0 || !/^[imsu]*$/.test(flags)) return undefined;
  return new RegExp(text.slice(1, end), flags);
}

function limitOf(args: unknown): number | undefined {
  if (!isRecord(args) || !onlyKeys(args, ['limit']) || typeof args.limit !== 'number') return undefined;
  return args.limit;
}

/** One key's rule, or undefined when it uses anything but string, required, min, max, pattern, valid. */
function compileString(d: unknown): StringRule | undefined {
  if (!isRecord(d) || d.type !== 'string' || !onlyKeys(d, ['type', 'flags', 'rules', 'allow', 'preferences'])) return undefined;
  const flags = d.flags ?? {};
  if (!isRecord(flags) || !onlyKeys(flags, ['presence', 'only'])) return undefined;
  if (flags.presence !== undefined && flags.presence !== 'required' && flags.presence !== 'optional') return undefined;
  // Only error messages may be set as preferences (they matter to Joi's errors, not to acceptance).
  if (d.preferences !== undefined && (!isRecord(d.preferences) || !onlyKeys(d.preferences, ['messages']))) return undefined;
  let only: Set<string> | undefined;
  if (d.allow !== undefined || flags.only !== undefined) {
    if (flags.only !== true || !Array.isArray(d.allow) || !d.allow.every((v) => typeof v === 'string' && v !== '')) return undefined;
    only = new Set(d.allow as string[]);
  }
  let min = 1;
  let max = Number.POSITIVE_INFINITY;
  const patterns: RegExp[] = [];
  for (const rule of (d.rules ?? []) as unknown[]) {
    if (!isRecord(rule) || !onlyKeys(rule, ['name', 'args'])) return undefined;
    if (rule.name === 'min' || rule.name === 'max') {
      const limit = limitOf(rule.args);
      if (limit === undefined) return undefined;
      if (rule.name === 'min') min = Math.max(min, limit);
      else max = Math.min(max, limit);
    } else if (rule.name === 'pattern' && isRecord(rule.args) && onlyKeys(rule.args, ['regex'])) {
      const regex = regexOf(rule.args.regex);
      if (regex === undefined) return undefined;
      patterns.push(regex);
    } else {
      return undefined;
    }
  }
  return { required: flags.presence === 'required', min, max, patterns, only };
}

/** The fast path of an object schema of string keys, or undefined when it cannot have one. */
export function compileBodyCheck(schema: Joi.ObjectSchema): CompiledBody | undefined {
  const d: unknown = schema.describe();
  if (!isRecord(d) || d.type !== 'object' || !onlyKeys(d, ['type', 'flags', 'preferences', 'keys']) || !isRecord(d.keys)) return undefined;
  if (d.flags !== undefined && (!isRecord(d.flags) || !onlyKeys(d.flags, ['presence']))) return undefined;
  const prefs = d.preferences;
  if (!isRecord(prefs) || prefs.convert !== false || !onlyKeys(prefs, ['convert', 'abortEarly'])) return undefined;
  const rules = new Map<string, StringRule>();
  for (const [key, value] of Object.entries(d.keys)) {
    const rule = compileString(value);
    if (rule === undefined) return undefined;
    rules.set(key, rule);
  }
  return { rules, required: [...rules.values()].filter((r) => r.required).length };
}

export function bodyShape<T>(schema: Joi.ObjectSchema<T>): BodyShape<T> {
  return { schema, fast: compileBodyCheck(schema) };
}

function stringPasses(rule: StringRule, value: unknown): boolean {
  if (typeof value !== 'string') return false;
  if (rule.only !== undefined) return rule.only.has(value);
  if (value.length < rule.min || value.length > rule.max) return false;
  for (const pattern of rule.patterns) if (!pattern.test(value)) return false;
  return true;
}

/**
 * True when the body (a plain object, as JSON.parse makes it) passes the compiled rules: only
 * known keys, each a string within its bounds, every required key present. False means "ask Joi".
 */
export function fastAccepts(compiled: CompiledBody, body: object): boolean {
  if (Object.getPrototypeOf(body) !== Object.prototype) return false;
  let required = 0;
  for (const key of Object.keys(body)) {
    const rule = compiled.rules.get(key);
    if (rule === undefined || !stringPasses(rule, (body as Record<string, unknown>)[key])) return false;
    if (rule.required) required += 1;
  }
  return required === compiled.required;
}
