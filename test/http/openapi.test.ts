/**
 * The OpenAPI document served at GET /otp/openapi.json, checked against the router's real
 * responses: every status the router produces (2xx and each error) must be documented for its
 * path, and the body and required headers must validate against the documented schemas.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { Response } from 'supertest';
import { createExampleApp } from '../../examples/app.js';
import { OTP_ERROR_CODES, type OtpErrorCode } from '../../lib/errors.js';
import { otpOpenApiDocument } from '../../lib/http/openapi.js';
import { forEachDatabase } from '../helpers/db.js';
import { deref, resolvePointer, validateSchema, type Json } from '../helpers/json-schema.js';
import { createTestKit, type TestKit } from '../helpers/kit.js';
import { recordingProvider } from '../helpers/providers.js';

const PHONE = '+359871234567';
/**
 * Outside +359 only the `Broken` provider is routed: it sends SMS only and refuses every delivery,
 * so /call answers 422 CHANNEL_UNSUPPORTED and /sms 503 PROVIDER_UNAVAILABLE.
 */
const UNSERVED_PHONE = '+447911123456';
const json = { 'Content-Type': 'application/json' };

type JsonObject = { [key: string]: Json };
const asObject = (value: Json | undefined, what: string): JsonObject => {
  assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `${what} is not an object`);
  return value;
};

/** Every `$ref` in the document, with where it sits. */
function refsOf(node: Json, at = '#'): [string, string][] {
  if (Array.isArray(node)) return node.flatMap((item, i) => refsOf(item, `${at}/${i}`));
  if (typeof node !== 'object' || node === null) return [];
  return Object.entries(node).flatMap(([key, value]): [string, string][] =>
    key === '$ref' && typeof value === 'string' ? [[at, value]] : refsOf(value, `${at}/${key}`),
  );
}

/** The error codes a documented response allows (from its `error.code` enum), if it is an error response. */
function codesOf(doc: Json, response: Json): string[] | undefined {
  const schema = asObject(deref(doc, asObject(asObject(asObject(deref(doc, response), 'response').content, 'content')['application/json'], 'media').schema ?? null), 'schema');
  const error = asObject(schema.properties ?? {}, 'properties').error;
  if (error === undefined) return undefined;
  const code = asObject(asObject(deref(doc, error), 'error').properties, 'error.properties').code;
  const values = asObject(deref(doc, code ?? null), 'code').enum;
  assert.ok(Array.isArray(values));
  return values.map(String);
}

/** Checks one real response against the document; records what it covered. */
function conforms(doc: Json, path: string, method: string, res: Response, covered: Set<string>): void {
  const operation = asObject(asObject(asObject(asObject(doc, 'doc').paths, 'paths')[path], path)[method], `${method} ${path}`);
  const responses = asObject(operation.responses, 'responses');
  const documented = responses[String(res.status)];
  assert.ok(documented !== undefined, `${method.toUpperCase()} ${path} answered ${res.status}, which the document does not list (${Object.keys(responses).join(', ')}); body ${JSON.stringify(res.body)}`);
  const response = asObject(deref(doc, documented), 'response');
  for (const [name, headerRef] of Object.entries(asObject(response.headers ?? {}, 'headers'))) {
    const header = asObject(deref(doc, headerRef), `header ${name}`);
    const raw: unknown = res.headers[name.toLowerCase()];
    assert.ok(raw === undefined || typeof raw === 'string', `${name} is sent once`);
    if (raw === undefined) {
      assert.notEqual(header.required, true, `${method} ${path} ${res.status}: required header ${name} is missing`);
      continue;
    }
    const headerSchema = asObject(header.schema, 'header schema');
    const value = headerSchema.type === 'integer' && /^[0-9]+$/.test(raw) ? Number(raw) : raw;
    assert.deepEqual(validateSchema(doc, headerSchema, value, `header ${name}`), []);
  }
  const media = asObject(response.content, 'content')['application/json'];
  assert.ok(media !== undefined, 'response without an application/json body');
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const problems = validateSchema(doc, asObject(media, 'media').schema ?? null, res.body, `${method.toUpperCase()} ${path} ${res.status}`);
  assert.deepEqual(problems, [], `body ${JSON.stringify(res.body)}`);
  const code = (res.body as { error?: { code?: OtpErrorCode } }).error?.code;
  if (code !== undefined) {
    assert.equal(OTP_ERROR_CODES[code].status, res.status, `${code} must be answered with ${OTP_ERROR_CODES[code].status}`);
    covered.add(`${path} ${res.status} ${code}`);
  } else {
    covered.add(`${path} ${res.status}`);
  }
}

describe('otpOpenApiDocument', () => {
  it('is OpenAPI 3.1 with /sms, /call, /whatsapp, /resend and /verify, and every $ref resolves', () => {
    const doc = otpOpenApiDocument() as unknown as Json;
    const root = asObject(doc, 'doc');
    assert.equal(root.openapi, '3.1.0');
    assert.deepEqual(Object.keys(asObject(root.paths, 'paths')).sort(), ['/call', '/openapi.json', '/resend', '/sms', '/verify', '/whatsapp']);
    const refs = refsOf(doc);
    assert.ok(refs.length > 10);
    for (const [at, target] of refs) assert.doesNotThrow(() => resolvePointer(doc, target), `${at} -> ${target}`);
  });

  it('lists each error code under the status errors.ts gives it, and covers every code', () => {
    const doc = otpOpenApiDocument() as unknown as Json;
    const seen = new Set<string>();
    for (const [path, item] of Object.entries(asObject(asObject(doc, 'doc').paths, 'paths'))) {
      for (const [method, operation] of Object.entries(asObject(item, path))) {
        for (const [status, response] of Object.entries(asObject(asObject(operation, method).responses, 'responses'))) {
          for (const code of codesOf(doc, response) ?? []) {
            assert.equal(String(OTP_ERROR_CODES[code as OtpErrorCode].status), status, `${method} ${path} lists ${code} under ${status}`);
            seen.add(code);
          }
        }
      }
    }
    for (const [name, response] of Object.entries(asObject(asObject(asObject(doc, 'doc').components, 'components').responses, 'responses'))) {
      const statuses = new Set((codesOf(doc, response) ?? []).map((code) => OTP_ERROR_CODES[code as OtpErrorCode].status));
      assert.equal(statuses.size, 1, `components.responses.${name} mixes statuses`);
      for (const code of codesOf(doc, response) ?? []) seen.add(code);
    }
    assert.deepEqual([...seen].sort(), Object.keys(OTP_ERROR_CODES).sort());
    const retryAfter = asObject(deref(doc, { $ref: '#/components/responses/RateLimited' }), 'RateLimited');
    assert.ok(asObject(retryAfter.headers, 'headers')['Retry-After'] !== undefined, '429 documents Retry-After');
  });

  it('its schemas refuse what the router never sends (the validator is not vacuous)', () => {
    const doc = otpOpenApiDocument() as unknown as Json;
    const accepted = { $ref: '#/components/schemas/SendAccepted' };
    const good = { requestId: '0b5e9a4c-3f1d-4c55-9d43-2f3b8e1a7c10', channel: 'sms', status: 'sent', expiresAt: '2026-11-25T12:05:00.000Z' };
    assert.deepEqual(validateSchema(doc, accepted, good), []);
    assert.notDeepEqual(validateSchema(doc, accepted, { ...good, code: '123456' }), []);
    assert.notDeepEqual(validateSchema(doc, accepted, { ...good, channel: 'email' }), []);
    assert.notDeepEqual(validateSchema(doc, accepted, { ...good, expiresAt: 'tomorrow' }), []);
    assert.notDeepEqual(validateSchema(doc, accepted, { ...good, requestId: 42 }), []);
    const { status: _status, ...missing } = good;
    assert.notDeepEqual(validateSchema(doc, accepted, missing), []);
    const verifyFailed = asObject(deref(doc, asObject(asObject(asObject(asObject(doc, 'doc').paths, 'paths')['/verify'], 'verify').post, 'post').responses ?? null), 'responses')['422'];
    const schema = asObject(asObject(asObject(verifyFailed, '422').content, 'content')['application/json'], 'media').schema ?? null;
    assert.deepEqual(validateSchema(doc, schema, { error: { code: 'OTP_INVALID', message: 'x', attemptsLeft: 2 }, requestValid: true, codeValid: false }), []);
    assert.notDeepEqual(validateSchema(doc, schema, { error: { code: 'RATE_LIMITED', message: 'x' }, requestValid: true, codeValid: false }), []);
    assert.notDeepEqual(validateSchema(doc, schema, { error: { code: 'OTP_INVALID', message: 'x' } }), []);
  });

  it('follows the options: code length and server URL; bad options name the option', () => {
    const doc = otpOpenApiDocument({ codeLength: 8, serverUrl: '/auth/otp' }) as unknown as Json;
    const root = asObject(doc, 'doc');
    assert.deepEqual(root.servers, [{ url: '/auth/otp' }]);
    const verifyRequest = { $ref: '#/components/schemas/VerifyRequest' };
    assert.deepEqual(validateSchema(doc, verifyRequest, { phone: PHONE, code: '12345678' }), []);
    assert.notDeepEqual(validateSchema(doc, verifyRequest, { phone: PHONE, code: '123456' }), []);
    assert.throws(() => otpOpenApiDocument({ codeLength: 4 }), (e: unknown) => (e as { code?: string }).code === 'CONFIG_INVALID' && /codeLength/.test(String(e)));
    assert.throws(() => otpOpenApiDocument({ serverUrl: '' }), /serverUrl/);
  });
});

forEachDatabase('OpenAPI document against the real router', (db) => {
  let kit: TestKit;
  let doc: Json;
  const covered = new Set<string>();
  const app = () => createExampleApp(kit.otp, {});

  before(async () => {
    const broken = recordingProvider('Broken', ['sms']);
    broken.plan = ['permanent'];
    // Limits off here, so that repeated sends to one number answer their own status; the 429 test
    // below uses a kit with the limits on.
    kit = await createTestKit(db(), {
      providers: 'Broken;Console:+359',
      customProviders: [broken],
      maxAttempts: 2,
      limits: false,
    });
    const res = await request(app()).get('/otp/openapi.json').expect(200);
    doc = res.body as Json;
  });
  after(async () => {
    await kit.otp.close();
  });

  it('GET /otp/openapi.json serves the document for this mount point and code length', async () => {
    const root = asObject(doc, 'doc');
    assert.equal(root.openapi, '3.1.0');
    assert.deepEqual(root.servers, [{ url: '/otp' }]);
    assert.deepEqual(doc, JSON.parse(JSON.stringify(otpOpenApiDocument({ codeLength: kit.otp.config.codeLength, serverUrl: '/otp' }))));
    conforms(doc, '/openapi.json', 'get', await request(app()).get('/otp/openapi.json'), covered);
  });

  it('202 from /sms and /call, 200 from /verify, and the 422s of /verify', async () => {
    for (const channel of ['sms', 'call'] as const) {
      conforms(doc, `/${channel}`, 'post', await request(app()).post(`/otp/${channel}`).set(json).send({ phone: PHONE, purpose: 'delete-account' }).expect(202), covered);
    }
    const code = kit.lastCode();
    const wrong = code === '000000' ? '111111' : '000000';
    conforms(doc, '/verify', 'post', await request(app()).post('/otp/verify').set(json).send({ phone: PHONE, code: wrong }).expect(422), covered);
    conforms(doc, '/verify', 'post', await request(app()).post('/otp/verify').set(json).send({ phone: PHONE, code, purpose: 'delete-account' }).expect(200), covered);
    // Consumed: no live request any more.
    conforms(doc, '/verify', 'post', await request(app()).post('/otp/verify').set(json).send({ phone: PHONE, code }).expect(422), covered);

    // Too many attempts (maxAttempts 2).
    await request(app()).post('/otp/sms').set(json).send({ phone: PHONE }).expect(202);
    const next = kit.lastCode();
    const bad = next === '000000' ? '111111' : '000000';
    for (let i = 0; i < 3; i += 1) conforms(doc, '/verify', 'post', await request(app()).post('/otp/verify').set(json).send({ phone: PHONE, code: bad }).expect(422), covered);

    // Expired.
    await request(app()).post('/otp/sms').set(json).send({ phone: PHONE }).expect(202);
    kit.clock.advance((kit.otp.config.ttlSeconds + 1) * 1000);
    conforms(doc, '/verify', 'post', await request(app()).post('/otp/verify').set(json).send({ phone: PHONE, code: kit.lastCode() }).expect(422), covered);

    for (const expected of ['OTP_INVALID', 'OTP_NOT_FOUND', 'OTP_TOO_MANY_ATTEMPTS', 'OTP_EXPIRED']) assert.ok(covered.has(`/verify 422 ${expected}`), expected);
    assert.ok(covered.has('/sms 202') && covered.has('/call 202') && covered.has('/verify 200'));
  });

  it('422 CHANNEL_UNSUPPORTED and 503 PROVIDER_UNAVAILABLE from the send routes', async () => {
    conforms(doc, '/call', 'post', await request(app()).post('/otp/call').set(json).send({ phone: UNSERVED_PHONE }).expect(422), covered);
    conforms(doc, '/sms', 'post', await request(app()).post('/otp/sms').set(json).send({ phone: UNSERVED_PHONE }).expect(503), covered);
    assert.ok(covered.has('/call 422 CHANNEL_UNSUPPORTED') && covered.has('/sms 503 PROVIDER_UNAVAILABLE'));
  });

  it('400, 413 and 415 from every POST route', async () => {
    for (const path of ['/sms', '/call', '/verify']) {
      const url = `/otp${path}`;
      conforms(doc, path, 'post', await request(app()).post(url).set(json).send({ phone: PHONE, extra: 1 }).expect(400), covered);
      conforms(doc, path, 'post', await request(app()).post(url).set(json).send('{"phone":').expect(400), covered);
      conforms(doc, path, 'post', await request(app()).post(url).set(json).send({ phone: '+3598' }).expect(400), covered);
      conforms(doc, path, 'post', await request(app()).post(url).set(json).send({ phone: 'x'.repeat(4000) }).expect(413), covered);
      conforms(doc, path, 'post', await request(app()).post(url).set('Content-Type', 'text/plain').send(`phone=${PHONE}`).expect(415), covered);
      for (const status of [400, 413, 415]) assert.ok([...covered].some((c) => c.startsWith(`${path} ${status} `)), `${path} ${status}`);
    }
  });

  it('a body the request schema refuses is refused by the router with 400, and the other way round', async () => {
    const sendSchema = { $ref: '#/components/schemas/SendRequest' };
    const verifySchema = { $ref: '#/components/schemas/VerifyRequest' };
    const bodies: [Json, Json][] = [
      [sendSchema, { phone: PHONE }],
      [sendSchema, { phone: PHONE, purpose: 'login' }],
      [sendSchema, { phone: PHONE, purpose: 'bad purpose!' }],
      [sendSchema, { phone: PHONE, purpose: '' }],
      [sendSchema, { phone: 359871234567 }],
      [sendSchema, { phone: PHONE, code: '123456' }],
      [sendSchema, {}],
      [sendSchema, []],
      [sendSchema, { phone: null }],
      [verifySchema, { phone: PHONE, code: '123456' }],
      [verifySchema, { phone: PHONE, code: '123456', purpose: 'login' }],
      [verifySchema, { phone: PHONE, code: '12345' }],
      [verifySchema, { phone: PHONE, code: 123456 }],
      [verifySchema, { phone: PHONE, code: '12345a' }],
      [verifySchema, { phone: PHONE }],
      [verifySchema, { code: '123456' }],
      [verifySchema, { phone: PHONE, code: '123456', extra: true }],
    ];
    for (const [schema, body] of bodies) {
      const path = schema === sendSchema ? '/sms' : '/verify';
      const res = await request(app()).post(`/otp${path}`).set(json).send(JSON.stringify(body));
      conforms(doc, path, 'post', res, covered);
      const docAccepts = validateSchema(doc, schema, body).length === 0;
      assert.equal(res.status !== 400, docAccepts, `${path} ${JSON.stringify(body)}: document ${docAccepts ? 'accepts' : 'refuses'}, router answered ${res.status}`);
    }
  });

  it("the guard's 401 and 403 match the documented guard responses", async () => {
    const noToken = await request(app()).post('/account/delete');
    assert.equal(noToken.status, 401);
    const rejected = asObject(deref(doc, { $ref: '#/components/responses/OtpTokenRejected' }), 'OtpTokenRejected');
    const rejectedSchema = asObject(asObject(rejected.content, 'content')['application/json'], 'media').schema ?? null;
    assert.deepEqual(validateSchema(doc, rejectedSchema, noToken.body), []);
    assert.deepEqual(validateSchema(doc, rejectedSchema, (await request(app()).post('/account/delete').set('X-OTP-Token', 'not-a-token').expect(401)).body), []);

    await request(app()).post('/otp/sms').set(json).send({ phone: PHONE, purpose: 'login' }).expect(202);
    const verified = await request(app()).post('/otp/verify').set(json).send({ phone: PHONE, code: kit.lastCode() }).expect(200);
    const mismatch = await request(app()).post('/account/delete').set('Authorization', `Bearer ${String(verified.body.token)}`).expect(403);
    const purpose = asObject(deref(doc, { $ref: '#/components/responses/OtpPurposeMismatch' }), 'OtpPurposeMismatch');
    assert.deepEqual(validateSchema(doc, asObject(asObject(purpose.content, 'content')['application/json'], 'media').schema ?? null, mismatch.body), []);
  });

  it('429 RATE_LIMITED from /sms, /call and /verify carries Retry-After as documented', async () => {
    const limited = await createTestKit(db(), { limits: { sendCooldownSeconds: 60, verifiesPerIp: { max: 1, windowSeconds: 300 } } });
    const limitedApp = createExampleApp(limited.otp, {});
    await request(limitedApp).post('/otp/sms').set(json).send({ phone: '+359871234599' }).expect(202);
    for (const path of ['/sms', '/call']) {
      const res = await request(limitedApp).post(`/otp${path}`).set(json).send({ phone: '+359871234599' }).expect(429);
      conforms(doc, path, 'post', res, covered);
      assert.ok(Number(res.headers['retry-after']) >= 1 && Number(res.headers['retry-after']) <= 60);
      assert.equal(res.body.error.retryAfter, Number(res.headers['retry-after']));
    }
    const wrong = limited.lastCode() === '000000' ? '111111' : '000000';
    await request(limitedApp).post('/otp/verify').set(json).send({ phone: '+359871234599', code: wrong }).expect(422);
    const res = await request(limitedApp).post('/otp/verify').set(json).send({ phone: '+359871234599', code: wrong }).expect(429);
    conforms(doc, '/verify', 'post', res, covered);
    assert.equal(res.body.error.retryAfter, Number(res.headers['retry-after']));
    for (const path of ['/sms', '/call', '/verify']) assert.ok(covered.has(`${path} 429 RATE_LIMITED`), path);
    await limited.otp.close();
  });
});
