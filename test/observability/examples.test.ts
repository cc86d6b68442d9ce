/**
 * The runnable examples, driven without listening: examples/step-up.ts through its exported app
 * factory (step-up flow, admin auth in front of /metrics and /admin/otp), and
 * examples/forced-providers.ts against the loopback Twilio and Sinch fakes.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import request from 'supertest';
import { createForcedOtp, SEED_PROVIDERS } from '../../examples/forced-providers.js';
import { createStepUpApp } from '../../examples/step-up.js';
import { maskPhone, OtpError, otpMetrics } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { startSinchFake, type SinchFake } from '../helpers/fakes/sinch-fake.js';
import { startTwilioFake, type TwilioFake } from '../helpers/fakes/twilio-fake.js';
import { captureLogger, createTestKit, TEST_SECRET } from '../helpers/kit.js';

const ALICE = '+359871234567';
const BOB = '+359881234567';
const ADMIN = 'admin-token-for-tests-0123456789';
const IBAN = 'BG80BNBG96611020345678';

type Res = request.Response;
const codeOf = (res: Res): string | undefined => (res.body as { error?: { code?: string } }).error?.code;

forEachDatabase('examples/step-up.ts', (db) => {
  it('guards the payout change with a change-payout token bound to the user’s own phone', async () => {
    // The per-number cooldown runs on the wall clock; this test sends to Alice four times in a row.
    const kit = await createTestKit(db(), { limits: { sendCooldownSeconds: false } });
    const app = createStepUpApp(kit.otp, { adminToken: ADMIN });
    const alice = { 'X-Demo-User': 'alice' };

    /** Steps 1 and 2 of the client flow: code to the number on file, then /otp/verify for a token. */
    const stepUp = async (): Promise<string> => {
      const sent = await request(app).post('/account/payout/step-up').set(alice);
      assert.equal(sent.status, 202, sent.text);
      assert.match(kit.delivered.at(-1) ?? '', new RegExp(`for \\${maskPhone(ALICE).replaceAll('*', '\\*')}$`), 'sent to the number on file');
      const verified = await request(app).post('/otp/verify').send({ phone: ALICE, code: kit.lastCode(), purpose: 'change-payout' });
      assert.equal(verified.status, 200, verified.text);
      return (verified.body as { token: string }).token;
    };

    assert.equal((await request(app).post('/account/payout/step-up')).status, 401, 'signed-out users get no code');
    const noToken = await request(app).put('/account/payout').set(alice).send({ iban: IBAN });
    assert.deepEqual([noToken.status, codeOf(noToken)], [401, 'OTP_REQUIRED']);

    // Alice's token does not change Bob's payout account.
    const aliceToken = await stepUp();
    const asBob = await request(app).put('/account/payout').set({ 'X-Demo-User': 'bob', 'X-OTP-Token': aliceToken }).send({ iban: IBAN });
    assert.deepEqual([asBob.status, codeOf(asBob)], [403, 'OTP_PHONE_MISMATCH']);

    const badIban = await request(app).put('/account/payout').set({ ...alice, 'X-OTP-Token': await stepUp() }).send({ iban: 'nope' });
    assert.deepEqual([badIban.status, codeOf(badIban), (badIban.body as { error: { field: string } }).error.field], [400, 'VALIDATION_FAILED', 'iban']);

    const token = await stepUp();
    const ok = await request(app).put('/account/payout').set({ ...alice, Authorization: `Bearer ${token}` }).send({ iban: IBAN });
    assert.deepEqual([ok.status, ok.body], [200, { updated: true, payoutIban: IBAN }]);
    const replay = await request(app).put('/account/payout').set({ ...alice, Authorization: `Bearer ${token}` }).send({ iban: IBAN });
    assert.deepEqual([replay.status, codeOf(replay)], [401, 'OTP_TOKEN_USED']);

    // A token for another purpose (here: a login code) does not unlock the payout change.
    assert.equal((await request(app).post('/otp/sms').send({ phone: ALICE, purpose: 'login' })).status, 202);
    const login = await request(app).post('/otp/verify').send({ phone: ALICE, code: kit.lastCode(), purpose: 'login' });
    const wrongPurpose = await request(app).put('/account/payout').set({ ...alice, 'X-OTP-Token': (login.body as { token: string }).token }).send({ iban: IBAN });
    assert.deepEqual([wrongPurpose.status, codeOf(wrongPurpose)], [403, 'OTP_PURPOSE_MISMATCH']);
  });

  it('serves /metrics and /admin/otp only with the admin token', async () => {
    const kit = await createTestKit(db());
    const app = createStepUpApp(kit.otp, { adminToken: ADMIN });
    await request(app).post('/account/payout/step-up').set({ 'X-Demo-User': 'bob' });
    const code = kit.lastCode();
    assert.equal((await request(app).post('/otp/verify').send({ phone: BOB, code, purpose: 'change-payout' })).status, 200);

    for (const path of ['/metrics', '/admin/otp/requests', '/admin/otp/retry-queue', '/admin/otp/providers']) {
      assert.equal((await request(app).get(path)).status, 401, `${path} without a token`);
      assert.equal((await request(app).get(path).set('Authorization', `Bearer ${ADMIN}x`)).status, 401, `${path} with a wrong token`);
    }
    const metrics = await request(app).get('/metrics').set('Authorization', `Bearer ${ADMIN}`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^otp_sends_total\{provider="Console",channel="sms",outcome="sent"\} 1$/m);
    assert.match(metrics.text, /^otp_verifications_total\{outcome="verified"\} 1$/m);

    const requests = await request(app).get('/admin/otp/requests').set('Authorization', `Bearer ${ADMIN}`);
    assert.equal(requests.status, 200);
    assert.equal((requests.body as { requests: { phone: string }[] }).requests[0]?.phone, maskPhone(BOB));
    for (const text of [metrics.text, requests.text]) {
      assert.ok(!text.includes(BOB.slice(1)), 'no full number');
      assert.ok(!text.includes(code), 'no code');
    }

    // Without an admin token configured the operator routes do not exist.
    const closed = createStepUpApp(kit.otp, { adminToken: '' });
    assert.equal((await request(closed).get('/metrics').set('Authorization', 'Bearer ')).status, 404);
    assert.equal((await request(closed).get('/admin/otp/requests')).status, 404);
  });
});

forEachDatabase('examples/forced-providers.ts', (db) => {
  let twilio: TwilioFake;
  let sinch: SinchFake;
  before(async () => {
    [twilio, sinch] = await Promise.all([startTwilioFake(), startSinchFake({ codeLength: 6 })]);
  });
  after(async () => {
    await Promise.all([twilio.close(), sinch.close()]);
  });
  const env = (): Record<string, string> => ({
    TWILIO_ACCOUNT_SID: twilio.accountSid,
    TWILIO_AUTH_TOKEN: twilio.authToken,
    TWILIO_VERIFY_SERVICE_SID: twilio.serviceSid,
    TWILIO_BASE_URL: twilio.url,
    SINCH_APPLICATION_KEY: sinch.applicationKey,
    SINCH_APPLICATION_SECRET: sinch.applicationSecret,
    SINCH_BASE_URL: sinch.url,
  });

  it("fails over from Twilio to Sinch with the seed's forced providers", async () => {
    const otp = createForcedOtp(SEED_PROVIDERS, { db: db().knex, secret: TEST_SECRET, env: env(), logger: captureLogger([]), limits: false });
    await otp.migrate();
    const metrics = otpMetrics(otp);
    try {
      assert.equal((await otp.routing()).source, 'Twilio;Sinch');
      // The settings row cannot override forced routing.
      await otp.setRouting('Sinch');
      assert.equal((await otp.routing()).source, 'Twilio;Sinch');

      twilio.setBehaviour({ type: 'error', status: 429, code: 20429, message: 'Too many requests' }, 'send');
      const sent = await otp.sendSms(ALICE);
      assert.equal(sent.provider, 'Sinch');
      const code = sinch.codeFor(ALICE);
      assert.ok(code !== undefined);
      assert.equal((await otp.verify(ALICE, code)).codeValid, true);

      const sends = await metrics.registry.getSingleMetricAsString('otp_sends_total');
      assert.match(sends, /^otp_sends_total\{provider="Twilio",channel="sms",outcome="failed"\} 1$/m);
      assert.match(sends, /^otp_sends_total\{provider="Sinch",channel="sms",outcome="sent"\} 1$/m);
      assert.match(await metrics.registry.getSingleMetricAsString('otp_provider_failures_total'), /^otp_provider_failures_total\{provider="Twilio",kind="rejected",retryable="true"\} 1$/m);
    } finally {
      metrics.stop();
      twilio.setBehaviour({ type: 'ok' });
      await otp.close();
    }
  });

  it('takes a routing string as well, and fails at startup without credentials', async () => {
    const otp = createForcedOtp('Sinch;Twilio:+35988', { db: db().knex, secret: TEST_SECRET, env: env(), logger: captureLogger([]), limits: false });
    await otp.migrate();
    assert.equal((await otp.routing()).source, 'Sinch;Twilio:+35988');
    assert.equal((await otp.sendSms(BOB)).provider, 'Twilio', '+35988 numbers go to Twilio first');
    assert.equal((await otp.sendSms(ALICE)).provider, 'Sinch', 'the others to Sinch');
    assert.throws(
      () => createForcedOtp(SEED_PROVIDERS, { db: db().knex, secret: TEST_SECRET, env: {}, logger: captureLogger([]) }),
      (e: unknown) => e instanceof OtpError && e.code === 'CONFIG_INVALID' && /TWILIO_/.test(e.message),
    );
  });
});
