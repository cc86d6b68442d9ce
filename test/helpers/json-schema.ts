/**
 * A small JSON Schema (2020-12 subset) validator for checking real responses against the OpenAPI
 * document. It knows the keywords the document uses and throws on any other one, so a schema can
 * never pass because a keyword was silently ignored.
 */

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type SchemaObject = { readonly [key: string]: Json };

/** Keywords that only annotate. */
const ANNOTATIONS = new Set(['description', 'title', 'examples', 'example', 'default', 'deprecated', 'readOnly', 'writeOnly', '$comment']);
const SUPPORTED = new Set([
  '$ref', 'type', 'enum', 'const', 'required', 'properties', 'additionalProperties', 'items',
  'minLength', 'maxLength', 'pattern', 'format', 'minimum', 'maximum', 'allOf', 'anyOf', 'oneOf',
]);

const FORMATS: Readonly<Record<string, (value: string) => boolean>> = {
  'date-time': (v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) && !Number.isNaN(Date.parse(v)),
  uuid: (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v),
};

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** String length as JSON Schema counts it: in code points, not UTF-16 units. */
function codePoints(value: string): number {
  let count = 0;
  for (const _ of value) count += 1;
  return count;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Resolves a local JSON pointer (`#/components/schemas/X`) in `root`. */
export function resolvePointer(root: Json, pointer: string): Json {
  if (!pointer.startsWith('#/')) throw new Error(`only local $ref are supported, got ${pointer}`);
  let node: Json = root;
  for (const raw of pointer.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObject(node) || !(key in node)) throw new Error(`$ref ${pointer} does not resolve (at "${key}")`);
    node = node[key] as Json;
  }
  return node;
}

/** Follows `$ref` chains of an OpenAPI object (response, header, schema) to the object itself. */
export function deref(root: Json, node: Json): Json {
  let current = node;
  for (let i = 0; i < 20 && isObject(current) && typeof current.$ref === 'string'; i += 1) current = resolvePointer(root, current.$ref);
  return current;
}

/** Returns the problems of `value` against `schema` (empty when valid), each with its JSON path. */
export function validateSchema(root: Json, schema: Json, value: unknown, path = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${path}: no value is allowed here`];
  if (!isObject(schema)) throw new Error(`${path}: schema is not an object`);
  const s: SchemaObject = schema;
  for (const key of Object.keys(s)) {
    if (!SUPPORTED.has(key) && !ANNOTATIONS.has(key)) throw new Error(`json-schema helper: unsupported keyword "${key}" at ${path}`);
  }
  const errors: string[] = [];
  if (typeof s.$ref === 'string') errors.push(...validateSchema(root, resolvePointer(root, s.$ref), value, path));

  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    const actual = typeOf(value);
    const ok = types.some((t) => t === actual || (t === 'number' && actual === 'integer'));
    if (!ok) return [...errors, `${path}: expected ${types.map((t) => JSON.stringify(t)).join(' or ')}, got ${actual} (${JSON.stringify(value)})`];
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => deepEqual(e, value))) errors.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
  if ('const' in s && !deepEqual(s.const, value)) errors.push(`${path}: expected ${JSON.stringify(s.const)}, got ${JSON.stringify(value)}`);

  if (typeof value === 'string') {
    if (typeof s.minLength === 'number' && codePoints(value) < s.minLength) errors.push(`${path}: shorter than ${s.minLength}`);
    if (typeof s.maxLength === 'number' && codePoints(value) > s.maxLength) errors.push(`${path}: longer than ${s.maxLength}`);
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(value)) errors.push(`${path}: ${JSON.stringify(value)} does not match ${s.pattern}`);
    if (typeof s.format === 'string') {
      const check = FORMATS[s.format];
      if (check === undefined) throw new Error(`json-schema helper: unsupported format "${s.format}" at ${path}`);
      if (!check(value)) errors.push(`${path}: ${JSON.stringify(value)} is not a ${s.format}`);
    }
  }
  if (typeof value === 'number') {
    if (typeof s.minimum === 'number' && value < s.minimum) errors.push(`${path}: ${value} is below ${s.minimum}`);
    if (typeof s.maximum === 'number' && value > s.maximum) errors.push(`${path}: ${value} is above ${s.maximum}`);
  }
  if (Array.isArray(value) && s.items !== undefined) {
    value.forEach((item, i) => errors.push(...validateSchema(root, s.items as Json, item, `${path}[${i}]`)));
  }
  if (isObject(value)) {
    const properties: SchemaObject = isObject(s.properties) ? s.properties : {};
    if (Array.isArray(s.required)) {
      for (const key of s.required) if (typeof key === 'string' && !(key in value)) errors.push(`${path}: missing required property "${key}"`);
    }
    for (const [key, item] of Object.entries(value)) {
      const child = `${path}.${key}`;
      const propertySchema = properties[key];
      if (propertySchema !== undefined) errors.push(...validateSchema(root, propertySchema, item, child));
      else if (s.additionalProperties === false) errors.push(`${child}: property is not allowed`);
      else if (s.additionalProperties !== undefined && s.additionalProperties !== true) errors.push(...validateSchema(root, s.additionalProperties, item, child));
    }
  }
  if (Array.isArray(s.allOf)) for (const sub of s.allOf) errors.push(...validateSchema(root, sub, value, path));
  if (Array.isArray(s.anyOf) && !s.anyOf.some((sub) => validateSchema(root, sub, value, path).length === 0)) errors.push(`${path}: matches none of anyOf`);
  if (Array.isArray(s.oneOf)) {
    const matches = s.oneOf.filter((sub) => validateSchema(root, sub, value, path).length === 0).length;
    if (matches !== 1) errors.push(`${path}: matches ${matches} of oneOf (exactly one required)`);
  }
  return errors;
}
