/** The HTTP contract through the example app: every 4xx/5xx of contract.md, and the guard. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import request from 'supertest';
import { createExampleApp } from '../../examples/app.js';
import { createOtp, knexFromUrl } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { captureLogger, createTestKit, TEST_SECRET, type TestKit } from '../helpers/kit.js';
import { recordingProvider } from '../helpers/providers.js';

const PHONE = '+359871234567';
const json = { 'Content-Type': 'application/json' };
const wrongOf = (code: string) => (code === '000000' ? '111111' : '000000');

function appOf(kit: TestKit) {
  return createExampleApp(kit.otp, {});
}

async function verified(kit: TestKit, purpose = 'delete-account', phone = PHONE): Promise<string> {
  const app = appOf(kit);
  await request(app).post('/otp/sms').set(json).send({ phone, purpose }).expect(202);
  const res = await request(app).post('/otp/verify').set(json).send({ phone, code: kit.lastCode() }).expect(200);
  return res.body.token as string;
}

forEachDatabase('HTTP API of the example app', (db) => {
  it('POST /otp/sms and /otp/call answer 202 with the contract body and no code', async () => {
    const kit = await createTestKit(db());
    for (const channel of ['sms', 'call']) {
      const res = await request(appOf(kit)).post(`/otp/${channel}`).set(json).send({ phone: PHONE }).expect(202);
      assert.deepEqual(Object.keys(res.body).sort(), ['channel', 'expiresAt', 'requestId', 'status']);
      assert.equal(res.body.channel, channel);
      assert.equal(res.body.status, 'sent');
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.ok(!JSON.stringify(res.body).includes(kit.lastCode()));
    }
  });

  it('POST /otp/verify answers 200 with a token, then the guarded route runs once', async () => {
    const kit = await createTestKit(db());
    const token = await verified(kit);
    const ok = await request(appOf(kit)).post('/account/delete').set('Authorization', `Bearer ${token}`).expect(200);
    assert.deepEqual(ok.body, { deleted: true, phone: PHONE });
    const reuse = await request(appOf(kit)).post('/account/delete').set('Authorization', `Bearer ${token}`).expect(401);
    assert.equal(reuse.body.error.code, 'OTP_TOKEN_USED');
  });

  it('400 VALIDATION_FAILED for every malformed body, naming the field (security #17, #18)', async () => {
    const kit = await createTestKit(db());
    const app = appOf(kit);
    const cases: [string, unknown, string | undefined][] = [
      ['/otp/sms', [], undefined],
      ['/otp/sms', 'just a string', undefined],
      ['/otp/sms', {}, 'phone'],
      ['/otp/sms', { phone: PHONE, extra: 1 }, 'extra'],
      ['/otp/sms', { phone: 359871234567 }, 'phone'],
      ['/otp/sms', { phone: { phone: 'x' } }, 'phone'],
      ['/otp/sms', { 'phone[]': PHONE }, 'phone'],
      ['/otp/sms', { phone: "' OR 1=1 --" }, 'phone'],
      ['/otp/sms', { phone: '+3598' }, 'phone'],
      ['/otp/sms', { phone: '12345678901234567890' }, 'phone'],
      ['/otp/call', { phone: PHONE, purpose: 'has space' }, 'purpose'],
      ['/otp/verify', { phone: PHONE }, 'code'],
      ['/otp/verify', { phone: PHONE, code: ['123456'] }, 'code'],
      ['/otp/verify', { phone: PHONE, code: 123456 }, 'code'],
      ['/otp/verify', { phone: PHONE, code: '12345' }, 'code'],
      ['/otp/verify', { phone: PHONE, code: '12345a' }, 'code'],
      ['/otp/verify', { phone: PHONE, code: '１２３４５６' }, 'code'],
    ];
    for (const [path, body, field] of cases) {
      const res = await request(app).post(path).set(json).send(JSON.stringify(body)).expect(400);
      assert.equal(res.body.error.code, 'VALIDATION_FAILED', `${path} ${JSON.stringify(body)}`);
      assert.equal(typeof res.body.error.message, 'string');
      if (field !== undefined) assert.equal(res.body.error.field, field, `${path} ${JSON.stringify(body)}: ${res.body.error.message}`);
    }
    const broken = await request(app).post('/otp/sms').set(json).send('{"phone":').expect(400);
    assert.equal(broken.body.error.code, 'VALIDATION_FAILED');
  });

  it('413 PAYLOAD_TOO_LARGE for a 10 kB body, with no row written (security #19)', async () => {
    const kit = await createTestKit(db());
    const before = await db().knex('otp_requests').count({ n: '*' }).first();
    const res = await request(appOf(kit)).post('/otp/sms').set(json).send(JSON.stringify({ phone: PHONE, pad: 'x'.repeat(10_000) })).expect(413);
    assert.equal(res.body.error.code, 'PAYLOAD_TOO_LARGE');
    const after = await db().knex('otp_requests').count({ n: '*' }).first();
    assert.equal(Number(after?.n), Number(before?.n));
  });

  it('415 UNSUPPORTED_MEDIA_TYPE for anything but JSON', async () => {
    const kit = await createTestKit(db());
    for (const [type, body] of [['text/plain', PHONE], ['application/x-www-form-urlencoded', `phone=${encodeURIComponent(PHONE)}`]] as const) {
      const res = await request(appOf(kit)).post('/otp/sms').set('Content-Type', type).send(body).expect(415);
      assert.equal(res.body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
    }
    const none = await request(appOf(kit)).post('/otp/verify').expect(415);
    assert.equal(none.body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('422 OTP_INVALID with attempts left, then OTP_TOO_MANY_ATTEMPTS', async () => {
    const kit = await createTestKit(db());
    const app = appOf(kit);
    await request(app).post('/otp/sms').set(json).send({ phone: PHONE }).expect(202);
    const code = kit.lastCode();
    const wrong = await request(app).post('/otp/verify').set(json).send({ phone: PHONE, code: wrongOf(code) }).expect(422);
    assert.deepEqual(wrong.body, { error: { code: 'OTP_INVALID', message: wrong.body.error.message, requestValid: true, codeValid: false, attemptsLeft: 4 }, requestValid: true, codeValid: false });
    for (let i = 0; i < 4; i += 1) await request(app).post('/otp/verify').set(json).send({ phone: PHONE, code: wrongOf(code) }).expect(422);
    const dead = await request(app).post('/otp/verify').set(json).send({ phone: PHONE, code }).expect(422);
    assert.equal(dead.body.error.code, 'OTP_TOO_MANY_ATTEMPTS');
    assert.equal(dead.body.requestValid, false);
  });

  it('422 OTP_NOT_FOUND and OTP_EXPIRED', async () => {
    const kit = await createTestKit(db());
    const app = appOf(kit);
    const none = await request(app).post('/otp/verify').set(json).send({ phone: '+359881111111', code: '123456' }).expect(422);
    assert.equal(none.body.error.code, 'OTP_NOT_FOUND');
    assert.equal(none.body.requestValid, false);
    await request(app).post('/otp/sms').set(json).send({ phone: '+359882222222' }).expect(202);
    kit.clock.advance(300_000);
    const expired = await request(app).post('/otp/verify').set(json).send({ phone: '+359882222222', code: kit.lastCode() }).expect(422);
    assert.equal(expired.body.error.code, 'OTP_EXPIRED');
  });

  it('422 CHANNEL_UNSUPPORTED and 503 PROVIDER_UNAVAILABLE', async () => {
    const smsOnly = recordingProvider('SmsOnly', ['sms']);
    const kit = await createTestKit(db(), { providers: ['SmsOnly'], customProviders: [smsOnly] });
    const call = await request(appOf(kit)).post('/otp/call').set(json).send({ phone: PHONE }).expect(422);
    assert.equal(call.body.error.code, 'CHANNEL_UNSUPPORTED');
    smsOnly.plan = ['retryable'];
    const down = await request(appOf(kit)).post('/otp/sms').set(json).send({ phone: PHONE }).expect(503);
    assert.equal(down.body.error.code, 'PROVIDER_UNAVAILABLE');
    assert.deepEqual(Object.keys(down.body.error).sort(), ['code', 'message']);
  });

  it('ignores a code in the query string (security #20)', async () => {
    const kit = await createTestKit(db());
    const app = appOf(kit);
    await request(app).post('/otp/sms').set(json).send({ phone: PHONE }).expect(202);
    const res = await request(app).post(`/otp/verify?code=${kit.lastCode()}`).set(json).send({ phone: PHONE }).expect(400);
    assert.equal(res.body.error.field, 'code');
  });

  it('guard: 401 OTP_REQUIRED, OTP_TOKEN_INVALID, OTP_TOKEN_EXPIRED and 403 OTP_PURPOSE_MISMATCH (security #29)', async () => {
    const kit = await createTestKit(db());
    const app = appOf(kit);
    const missing = await request(app).post('/account/delete').expect(401);
    assert.equal(missing.body.error.code, 'OTP_REQUIRED');
    const token = await verified(kit);
    const [h, p, s] = token.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: '+359881234567' })).toString('base64url')}.${s}`;
    for (const bad of [tampered, `${h}.${p}.`, 'not-a-token', `${token}x`]) {
      const res = await request(app).post('/account/delete').set('Authorization', `Bearer ${bad}`).expect(401);
      assert.equal(res.body.error.code, 'OTP_TOKEN_INVALID');
    }
    kit.clock.advance(300_000 + 6_000);
    const expired = await request(app).post('/account/delete').set('X-OTP-Token', token).expect(401);
    assert.equal(expired.body.error.code, 'OTP_TOKEN_EXPIRED');
    const otherPurpose = await verified(kit, 'change-email', '+359881234567');
    const mismatch = await request(app).post('/account/delete').set('X-OTP-Token', otherPurpose).expect(403);
    assert.equal(mismatch.body.error.code, 'OTP_PURPOSE_MISMATCH');
  });

  it('guard: a token spent in one process is refused in another (single use across processes, security #30)', async () => {
    const kit = await createTestKit(db());
    const token = await verified(kit);
    // A second, independent service instance on the same database stands for another app process.
    const other = createOtp({ db: db().knex, secret: TEST_SECRET, providers: ['Console'], env: {}, logger: captureLogger([]), clock: kit.clock.now });
    const appB = createExampleApp(other, {});
    await request(appB).post('/account/delete').set('X-OTP-Token', token).expect(200);
    const res = await request(appOf(kit)).post('/account/delete').set('Authorization', `Bearer ${token}`).expect(401);
    assert.equal(res.body.error.code, 'OTP_TOKEN_USED');
  });

  it('guard fails closed when the database is unreachable (security #32)', async () => {
    const kit = await createTestKit(db());
    const token = await verified(kit);
    const deadDb = knexFromUrl('sqlite::memory:');
    await deadDb.destroy();
    const broken = createOtp({ db: deadDb, secret: TEST_SECRET, providers: ['Console'], env: {}, logger: captureLogger([]), clock: kit.clock.now });
    const res = await request(createExampleApp(broken, {})).post('/account/delete').set('X-OTP-Token', token);
    assert.equal(res.status, 500);
    assert.notEqual(res.body?.deleted, true);
    assert.deepEqual(res.body, { error: { code: 'INTERNAL_ERROR', message: 'Internal error.' } }, 'no internals in the answer');
  });
});
