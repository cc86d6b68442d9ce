/** Test numbers: fixed codes with an expiry, never sent, never counted, refused in production. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import request from 'supertest';
import { createExampleApp } from '../../examples/app.js';
import { createOtp } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { captureLogger, createTestKit, TEST_SECRET } from '../helpers/kit.js';
import { recordingProvider } from '../helpers/providers.js';

const TEST_PHONE = '+359881112233';
const json = { 'Content-Type': 'application/json' };

forEachDatabase('test numbers', (db) => {
  it('never calls a provider, verifies the fixed code, and ignores limits until validUntil', async () => {
    const provider = recordingProvider('Real');
    const kit = await createTestKit(db(), {
      providers: ['Real'],
      customProviders: [provider],
      limits: {},
      testNumbers: { numbers: [{ phone: '+359 88 111 2233', code: '246810', validUntil: new Date(Date.UTC(2026, 10, 26)) }] },
    });
    const app = createExampleApp(kit.otp, {});
    // Well past the default 60 s cooldown and 5-per-10-minutes cap: a test number is never counted.
    for (let i = 0; i < 8; i += 1) {
      await request(app).post('/otp/sms').set(json).send({ phone: TEST_PHONE, purpose: 'delete-account' }).expect(202);
    }
    assert.equal(provider.calls.length, 0, 'no provider call');
    const wrong = await request(app).post('/otp/verify').set(json).send({ phone: TEST_PHONE, code: '135790' }).expect(422);
    assert.equal(wrong.body.error.code, 'OTP_INVALID', 'the attempt cap still applies');
    const ok = await request(app).post('/otp/verify').set(json).send({ phone: TEST_PHONE, code: '246810' }).expect(200);
    await request(app).post('/account/delete').set('X-OTP-Token', ok.body.token as string).expect(200);
    const rows = await db().knex('otp_requests').where({ phone: TEST_PHONE }).select('provider', 'status', 'code_digest');
    assert.ok(rows.every((r: { provider: string; status: string }) => r.provider === 'TestNumber' && r.status === 'sent'));

    // After validUntil it is an ordinary number: the real provider delivers a random code.
    kit.clock.set(Date.UTC(2026, 10, 26));
    await request(app).post('/otp/sms').set(json).send({ phone: TEST_PHONE }).expect(202);
    assert.equal(provider.calls.length, 1);
  });

  it('reads the otp_test_numbers settings row, and refuses test numbers in production unless allowed', async () => {
    const provider = recordingProvider('Real');
    const kit = await createTestKit(db(), { providers: ['Real'], customProviders: [provider] });
    await kit.otp.setTestNumbers([{ phone: '+359881112244', code: '112233', validUntil: '2027-01-01T00:00:00Z' }]);
    const sent = await kit.otp.sendSms('+359881112244');
    assert.equal(sent.provider, 'TestNumber');
    assert.equal(provider.calls.length, 0);
    assert.equal((await kit.otp.verify('+359881112244', '112233')).codeValid, true);
    await assert.rejects(kit.otp.setTestNumbers([{ phone: 'nope', code: '112233', validUntil: '2027-01-01' }]), /invalid phone "nope"/);

    const production = { NODE_ENV: 'production', OTP_SECRET: TEST_SECRET };
    const numbers = [{ phone: '+359881112255', code: '445566', validUntil: '2027-01-01' }];
    assert.throws(() => createOtp({ db: db().knex, env: production, customProviders: [provider], providers: ['Real'], testNumbers: { numbers } }), /refused when NODE_ENV=production/);
    const allowed = createOtp({ db: db().knex, env: production, customProviders: [provider], providers: ['Real'], limits: false, logger: captureLogger([]), testNumbers: { numbers, allowInProduction: true } });
    assert.equal((await allowed.sendSms('+359881112255')).provider, 'TestNumber');
    // The settings row is ignored in production without allowInProduction.
    const strict = createOtp({ db: db().knex, env: production, customProviders: [provider], providers: ['Real'], limits: false, logger: captureLogger([]) });
    assert.equal((await strict.sendSms('+359881112244')).provider, 'Real');
  });
});
