/**
 * Audit 23.7: the Sinch verification-request callback answered `allow` for any number and any
 * reference, so a verification the kit never started would be let through; it now answers `allow`
 * only for a live request of the kit, started on Sinch for that number with the reference the kit
 * gave it, and `deny` otherwise. And a callback router without Sinch credentials answered every
 * unauthenticated `POST /sinch` with 500 and an error log line; now 404 and no log line.
 * The sends go through the real Sinch SDK to the loopback fake; callbacks are signed with the Sinch
 * SDK's own signer.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { generateAuthorizationHeader } from '@sinch/sdk-client';
import express from 'express';
import request from 'supertest';
import { createOtp, otpCallbackRouter, type Otp } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { startSinchFake, type SinchFake } from '../helpers/fakes/sinch-fake.js';
import { captureLogger, TEST_SECRET } from '../helpers/kit.js';

const PATH = '/otp/callbacks/sinch';

let serial = 0;
const nextPhone = (): string => `+467055${String(10_000 + (serial += 1) * 37).slice(-5)}`;

forEachDatabase('audit 23.7: Sinch request callbacks', (db) => {
  let fake: SinchFake;
  let otp: Otp;
  let app: express.Express;
  const logs: string[] = [];

  before(async () => {
    await import('@sinch/sdk-core');
    fake = await startSinchFake({ codeLength: 6 });
    otp = createOtp({
      db: db().knex,
      secret: TEST_SECRET,
      logger: captureLogger(logs),
      limits: false,
      providerTimeoutMs: 5000,
      env: { SINCH_APPLICATION_KEY: fake.applicationKey, SINCH_APPLICATION_SECRET: fake.applicationSecret, SINCH_BASE_URL: fake.url, OTP_SMS_PROVIDER: 'Sinch' },
    });
    await otp.migrate();
    app = express();
    app.use('/otp/callbacks', otpCallbackRouter(otp));
  });
  after(async () => {
    await otp.close();
    await fake.close();
  });

  function requestEvent(event: Record<string, unknown>) {
    const body = JSON.stringify({ event: 'VerificationRequestEvent', id: `sinch-${serial}`, method: 'sms', ...event });
    const timestamp = new Date().toISOString();
    const contentType = 'application/json; charset=utf-8';
    const authorization = generateAuthorizationHeader('POST', body, contentType, `x-timestamp:${timestamp}`, PATH, fake.applicationKey, fake.applicationSecret);
    return request(app).post(PATH).set({ 'content-type': contentType, 'x-timestamp': timestamp, authorization }).send(body);
  }

  /** Sends a code through Sinch; answers the number and the reference the kit gave Sinch. */
  async function started(): Promise<{ phone: string; reference: string; requestId: string }> {
    const phone = nextPhone();
    const sent = await otp.sendSms(phone);
    const reference = fake.deliveries.filter((d) => d.phone === phone).at(-1)?.reference;
    assert.ok(typeof reference === 'string' && reference.startsWith(`${sent.requestId}.`), `reference ${String(reference)}`);
    return { phone, reference, requestId: sent.requestId };
  }

  const identity = (phone: string) => ({ type: 'number', endpoint: phone });

  it('23.7 a verification the kit started is allowed', async () => {
    const { phone, reference } = await started();
    const res = await requestEvent({ identity: identity(phone), reference });
    assert.deepEqual([res.status, res.body], [200, { action: 'allow' }]);
  });

  it('23.7 numbers and references the kit never started are denied', async () => {
    const { phone, reference } = await started();
    const stranger = nextPhone();
    const cases = [
      { identity: identity(stranger) },
      { identity: identity(stranger), reference: '0190c2a1-7b1e-7000-8000-000000000000.abcdef' },
      { identity: identity(stranger), reference },
      { identity: identity(phone) },
      { identity: identity(phone), reference: 'anything' },
      { identity: identity(phone), reference: `${reference}x` },
      { identity: { type: 'email', endpoint: 'x@example.com' }, reference },
      { reference },
    ];
    for (const event of cases) {
      const res = await requestEvent(event);
      assert.deepEqual([res.status, res.body], [200, { action: 'deny' }], JSON.stringify(event));
    }
  });

  it('23.7 a request that is no longer live (verified) is denied', async () => {
    const { phone, reference } = await started();
    const code = fake.codeFor(phone);
    assert.ok(code !== undefined);
    assert.equal((await otp.verify(phone, code)).codeValid, true);
    const res = await requestEvent({ identity: identity(phone), reference });
    assert.deepEqual([res.status, res.body], [200, { action: 'deny' }]);
  });

  it('23.7 without Sinch credentials, POST /sinch is 404 and logs nothing', async () => {
    const quiet: string[] = [];
    const bare = createOtp({ db: db().knex, secret: TEST_SECRET, logger: captureLogger(quiet), providers: ['Console'], console: { write: () => undefined }, env: {} });
    const plain = express();
    plain.use('/otp/callbacks', otpCallbackRouter(bare));
    const mounted = quiet.length;
    const body = JSON.stringify({ event: 'VerificationRequestEvent', identity: identity(nextPhone()) });
    for (let i = 0; i < 3; i += 1) {
      const res = await request(plain).post(PATH).set('content-type', 'application/json').send(body);
      assert.ok(res.status === 404 || res.status === 401, `status ${res.status}`);
    }
    assert.deepEqual(quiet.slice(mounted), [], 'no log line per request');
    await bare.close();
  });
});
