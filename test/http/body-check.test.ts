/**
 * The compiled body check (lib/http/body-check.ts) against Joi itself: whatever it accepts, Joi
 * accepts with the same value; it refuses to compile schemas that use anything it does not know.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Joi from 'joi';
import { compileBodyCheck, fastAccepts } from '../../lib/http/body-check.js';
import { resendBodySchema, sendBodySchema, verifyBodySchema } from '../../lib/http/schemas.js';

const STRINGS = [
  '', ' ', '+359871234567', '+359 87 123 4567', 'x'.repeat(32), 'x'.repeat(33), '٠١٢', 'signup', 'a.b_c:d-e', '-bad', 'p'.repeat(64), 'p'.repeat(65),
  'de', 'de-AT', 'pt-BR', 'zh-Hant-TW', 'en-001', 'english', 'de_AT', 'abcdefghijklm', '123456', '12345', 'ABC-123', 'a'.repeat(33), 'sms', 'call', 'whatsapp', 'SMS', 'fax',
  '123456\n', 'line\r\nbreak', '__proto__',
];
const VALUES: unknown[] = [...STRINGS, 123456, 0, true, null, [], {}, ['+359871234567']];
/** Each key with how often it appears (of 20) and values close to its rule, besides all of VALUES. */
const KEYS: ReadonlyArray<[string, number, readonly string[]]> = [
  ['phone', 18, ['+359871234567', '', 'x'.repeat(32), 'x'.repeat(33)]],
  ['purpose', 6, ['signup', 'a.b_c:d-e', '-bad', 'p'.repeat(64), 'p'.repeat(65)]],
  ['locale', 6, ['de', 'pt-BR', 'zh-Hant-TW', 'en-001', 'abcdefghijklm', 'de_AT']],
  ['code', 12, ['123456', '12345678', 'ABC-123', 'a'.repeat(32), 'a'.repeat(33), '123 456']],
  ['channel', 10, ['sms', 'call', 'whatsapp', 'SMS', 'fax']],
  ['extra', 1, []],
  ['__proto__', 1, []],
  ['constructor', 1, []],
];

/** Deterministic pseudo-random bodies: every key combination with a spread of values. */
function* bodies(): Generator<object> {
  let seed = 7;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let round = 0; round < 6000; round += 1) {
    const body: Record<string, unknown> = {};
    for (const [key, often, near] of KEYS) {
      if (next(20) >= often) continue;
      body[key] = near.length > 0 && next(4) !== 0 ? near[next(near.length)] : VALUES[next(VALUES.length)];
    }
    // Through JSON, as the router sees bodies (an own "__proto__" key included).
    yield JSON.parse(JSON.stringify(body).replace('"constructor"', next(2) === 0 ? '"__proto__"' : '"constructor"')) as object;
  }
  yield JSON.parse('{"phone":"+359871234567","__proto__":{"code":"1"}}') as object;
  yield Object.assign(Object.create(null) as object, { phone: '+359871234567' });
}

describe('compiled body check', () => {
  const schemas = { send: sendBodySchema, resend: resendBodySchema, verify6: verifyBodySchema(6), verify8: verifyBodySchema(8) };
  for (const [name, schema] of Object.entries(schemas)) {
    it(`${name}: compiles, and accepts only what Joi accepts unchanged`, () => {
      const compiled = compileBodyCheck(schema);
      assert.ok(compiled !== undefined, 'the kit schemas have a fast path');
      let accepted = 0;
      for (const body of bodies()) {
        if (!fastAccepts(compiled, body)) continue;
        accepted += 1;
        const result = schema.validate(body);
        assert.equal(result.error, undefined, `Joi refuses ${JSON.stringify(body)}`);
        assert.deepEqual(result.value, body);
      }
      assert.ok(accepted > 10, `the fast path took ${accepted} bodies`);
    });
  }

  it('takes the bodies the bench sends', () => {
    assert.ok(fastAccepts(compileBodyCheck(sendBodySchema)!, { phone: '+359871234567' }));
    assert.ok(fastAccepts(compileBodyCheck(verifyBodySchema(6))!, { phone: '+359871234567', code: '123456' }));
    assert.ok(fastAccepts(compileBodyCheck(resendBodySchema)!, { phone: '+359871234567', channel: 'call', purpose: 'login', locale: 'de-AT' }));
  });

  it('has no fast path for schemas that use anything else', () => {
    const base = { convert: false } as const;
    for (const schema of [
      Joi.object({ phone: Joi.string().trim().required() }).options(base),
      Joi.object({ phone: Joi.string().allow('').required() }).options(base),
      Joi.object({ phone: Joi.string().lowercase() }).options(base),
      Joi.object({ phone: Joi.number() }).options(base),
      Joi.object({ phone: Joi.string().pattern(/x/, { invert: true }) }).options(base),
      Joi.object({ phone: Joi.string().max(3, 'utf8') }).options(base),
      Joi.object({ phone: Joi.string().valid('a').insensitive() }).options(base),
      Joi.object({ phone: Joi.string() }).unknown(true).options(base),
      Joi.object({ phone: Joi.string() }),
      Joi.object({ a: Joi.string(), b: Joi.string() }).xor('a', 'b').options(base),
    ]) {
      assert.equal(compileBodyCheck(schema), undefined, JSON.stringify(schema.describe()));
    }
  });
});
