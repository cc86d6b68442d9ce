/**
 * Issue 3 end to end: the example app over HTTP, configured by environment variables alone, with
 * Twilio Verify, Sinch Verification and the Mada SOAP gateway played by loopback fakes(). Each
 * provider: SMS (and call where it can), the code read from what the fake delivered, /otp/verify,
 * the token spent on POST /account/delete; wrong, right and expired codes. Issue 13: answers read as
 * the official APIs define them (Twilio `valid: null`, 429s, 60202).
 */
import assert from 'node:assert/strict';
import { afterEach, before, beforeEach, it } from 'node:test';
import { createOtp, migrateOtpTables, OtpError } from '../../lib/index.js';
import type { Channel } from '../../lib/types.js';
import { forEachDatabase } from '../helpers/db.js';
import {
  deleteAccount,
  errorOf,
  fakeEnv,
  phone,
  recordingLogger,
  rowCount,
  send,
  sendAccepted,
  startKit,
  storedRequest,
  testClock,
  verify,
  verifyAndDelete,
  wrongCode,
  useFakes,
} from './harness.js';

const fakes = useFakes();

const TTL_MS = 300_000; // the kit's default ttlSeconds

forEachDatabase('providers end to end through the example app', (get) => {
  before(async () => {
    await migrateOtpTables(get().knex);
  });
  beforeEach(() => fakes().reset());
  afterEach(() => fakes().assertNoProtocolProblems());

  for (const provider of ['Twilio', 'Sinch'] as const) {
    for (const channel of ['sms', 'call'] as const satisfies readonly Channel[]) {
      it(`${provider} ${channel}: the code ${provider} delivered verifies, and its token opens /account/delete once`, async () => {
        const { app } = startKit(get().knex, fakeEnv(fakes(), provider));
        const to = phone('+35989');
        const requestId = await sendAccepted(app, channel, to);

        // What went over the wire: one start for this number on the asked channel.
        assert.equal(fakes().sendsTo(provider, to), 1);
        if (provider === 'Twilio') {
          assert.deepEqual(fakes().twilio.requests[0]?.form, { To: to, Channel: channel });
        } else {
          const body = fakes().sinch.requests[0]?.body as { method: string; identity: unknown };
          assert.equal(body.method, channel === 'sms' ? 'sms' : 'callout');
          assert.deepEqual(body.identity, { type: 'number', endpoint: to });
        }
        const row = await storedRequest(get().knex, requestId);
        assert.equal(row.provider, provider);
        assert.equal(row.codeOwner, 'provider');
        assert.equal(row.status, 'sent');
        const ref = provider === 'Twilio' ? fakes().twilio.verifications[0]?.sid : fakes().sinch.deliveries[0]?.id;
        assert.equal(row.providerRef, ref);

        const code = fakes().codeFor(provider, to);
        const verified = await verify(app, to, code);
        assert.equal(verified.status, 200, JSON.stringify(verified.body));
        assert.equal(verified.headers['cache-control'], 'no-store');
        const { token, requestId: verifiedId } = verified.body as { token: string; requestId: string };
        assert.equal(verifiedId, requestId);
        // The provider checked the code (it owns it), on the channel it was sent on.
        assert.deepEqual(fakes().checksOf(provider, to), [{ code, method: provider === 'Sinch' ? (channel === 'sms' ? 'sms' : 'callout') : undefined }]);

        const deleted = await deleteAccount(app, token);
        assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
        assert.deepEqual(deleted.body, { deleted: true, phone: to });
        const again = await deleteAccount(app, token);
        assert.equal(again.status, 401);
        assert.equal(errorOf(again).code, 'OTP_TOKEN_USED');

        // The request is consumed: the same code again finds nothing, without asking the provider.
        const replay = await verify(app, to, code);
        assert.equal(replay.status, 422);
        assert.equal(errorOf(replay).code, 'OTP_NOT_FOUND');
        assert.equal(errorOf(replay).requestValid, false);
        assert.equal(fakes().checksOf(provider, to).length, 1);
      });
    }
  }

  it('Mada sms: the kit generates the code, Mada delivers the text, the kit checks it', async () => {
    const { app } = startKit(get().knex, fakeEnv(fakes(), 'Mada'));
    const to = phone('+35987');
    const requestId = await sendAccepted(app, 'sms', to);

    assert.equal(fakes().mada.requests.length, 1);
    const submit = fakes().mada.requests[0]!;
    assert.equal(submit.authorized, true);
    assert.deepEqual(submit.source, { ton: '5', npi: '1', addr: 'MyBrand' });
    assert.deepEqual(submit.destination, { ton: '1', npi: '1', addr: to.slice(1) });
    assert.match(submit.text ?? '', /^Your verification code is \d{6}$/);
    const row = await storedRequest(get().knex, requestId);
    assert.equal(row.provider, 'Mada');
    assert.equal(row.codeOwner, 'kit');
    assert.equal(row.providerRef, submit.messageId);

    await verifyAndDelete(app, to, fakes().codeFor('Mada', to));
    assert.equal(fakes().mada.requests.length, 1, 'verification never talks to Mada');
  });

  it('Mada cannot call: /otp/call answers 422 CHANNEL_UNSUPPORTED and Mada gets no request', async () => {
    const { app } = startKit(get().knex, fakeEnv(fakes(), 'Mada'));
    const to = phone('+35987');
    const res = await send(app, 'call', to);
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(errorOf(res).code, 'CHANNEL_UNSUPPORTED');
    assert.equal(errorOf(res).channel, 'call');
    assert.equal(fakes().mada.requests.length, 0);
    assert.equal(await rowCount(get().knex, to), 0, 'no request row for a refused channel');

    // The same for a prefix rule that names Mada alone.
    const prefixOnly = startKit(get().knex, fakeEnv(fakes(), 'Mada:+35987'));
    const res2 = await send(prefixOnly.app, 'call', to);
    assert.equal(res2.status, 422);
    assert.equal(errorOf(res2).code, 'CHANNEL_UNSUPPORTED');
    assert.equal(fakes().mada.requests.length, 0);
    // …while SMS to the same number still works through that rule.
    await sendAccepted(prefixOnly.app, 'sms', to);
    assert.equal(fakes().mada.requests.length, 1);
  });

  it('MADA_URL in the hitrix form (host:port/path, no scheme) is read as http:// with a warning', async () => {
    const env = { ...fakeEnv(fakes(), 'Mada'), MADA_URL: fakes().mada.hostPath };
    const { app, logs } = startKit(get().knex, env);
    assert.equal(logs.filter((l) => l.includes('"level":"warn"') && l.includes('MADA_URL has no scheme')).length, 1);
    const to = phone('+35988');
    await sendAccepted(app, 'sms', to);
    await verifyAndDelete(app, to, fakes().codeFor('Mada', to));
  });

  for (const [provider, variable] of [
    ['Twilio', 'TWILIO_AUTH_TOKEN'],
    ['Twilio', 'TWILIO_VERIFY_SERVICE_SID'],
    ['Sinch', 'SINCH_APPLICATION_SECRET'],
    ['Mada', 'MADA_PASSWORD'],
    ['Mada', 'MADA_SOURCE_NAME'],
  ] as const) {
    it(`OTP_SMS_PROVIDER naming ${provider} without ${variable} fails at startup, naming the variable`, () => {
      const env = Object.fromEntries(Object.entries(fakeEnv(fakes(), `Console;${provider}`)).filter(([name]) => name !== variable));
      assert.throws(
        () => createOtp({ db: get().knex, env }),
        (error: unknown) => error instanceof OtpError && error.code === 'CONFIG_INVALID' && error.message.includes(variable) && error.message.includes(provider),
      );
    });
  }

  for (const provider of ['Twilio', 'Sinch', 'Mada'] as const) {
    const prefix = provider === 'Mada' ? '+35987' : '+35989';

    it(`${provider}: a wrong code is OTP_INVALID with attempts left, then the right code verifies`, async () => {
      const { app } = startKit(get().knex, fakeEnv(fakes(), provider));
      const to = phone(prefix);
      await sendAccepted(app, 'sms', to);
      const code = fakes().codeFor(provider, to);

      const wrong = await verify(app, to, wrongCode(code));
      assert.equal(wrong.status, 422);
      assert.deepEqual(errorOf(wrong), {
        code: 'OTP_INVALID',
        message: 'The code is not correct.',
        attemptsLeft: 4,
        requestValid: true,
        codeValid: false,
      });
      const second = await verify(app, to, wrongCode(wrongCode(code)));
      assert.equal(errorOf(second).attemptsLeft, 3);
      if (provider !== 'Mada') assert.deepEqual(fakes().checksOf(provider, to).map((c) => c.code), [wrongCode(code), wrongCode(wrongCode(code))]);

      await verifyAndDelete(app, to, code);
      if (provider !== 'Mada') assert.equal(fakes().checksOf(provider, to).length, 3);
    });

    it(`${provider}: the code expires on the kit's clock (valid just before the TTL, refused at it) without asking the provider`, async () => {
      const clock = testClock();
      const { app } = startKit(get().knex, fakeEnv(fakes(), provider), { clock });
      const early = phone(prefix);
      const late = phone(prefix);
      await sendAccepted(app, 'sms', early);
      await sendAccepted(app, 'sms', late);

      clock.advance(TTL_MS - 1000);
      await verifyAndDelete(app, early, fakes().codeFor(provider, early));

      clock.advance(1000);
      const expired = await verify(app, late, fakes().codeFor(provider, late));
      assert.equal(expired.status, 422);
      assert.equal(errorOf(expired).code, 'OTP_EXPIRED');
      assert.equal(errorOf(expired).requestValid, false);
      assert.equal(errorOf(expired).codeValid, false);
      if (provider !== 'Mada') assert.equal(fakes().checksOf(provider, late).length, 0, 'an expired request is refused before the provider is asked');
    });

    it(`${provider}: five wrong codes lock the request; the right code is then refused`, async () => {
      const { app } = startKit(get().knex, fakeEnv(fakes(), provider));
      const to = phone(prefix);
      await sendAccepted(app, 'sms', to);
      const code = fakes().codeFor(provider, to);
      let guess = code;
      for (let left = 4; left >= 0; left -= 1) {
        guess = wrongCode(guess);
        const res = await verify(app, to, guess);
        assert.equal(errorOf(res).code, 'OTP_INVALID');
        assert.equal(errorOf(res).attemptsLeft, left);
      }
      const locked = await verify(app, to, code);
      assert.equal(locked.status, 422);
      assert.equal(errorOf(locked).code, 'OTP_TOO_MANY_ATTEMPTS');
      assert.equal(errorOf(locked).requestValid, false);
      if (provider !== 'Mada') assert.equal(fakes().checksOf(provider, to).length, 5, 'the sixth guess never reached the provider');
    });
  }

  for (const provider of ['Twilio', 'Sinch'] as const) {
    it(`${provider}: a verification the provider expired answers OTP_EXPIRED (requestValid false)`, async () => {
      const { app } = startKit(get().knex, fakeEnv(fakes(), provider));
      const to = phone('+35989');
      const requestId = await sendAccepted(app, 'sms', to);
      const code = fakes().codeFor(provider, to);
      if (provider === 'Twilio') fakes().twilio.expire(to);
      else fakes().sinch.expire(to);

      const res = await verify(app, to, code);
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal(errorOf(res).code, 'OTP_EXPIRED');
      assert.equal(errorOf(res).requestValid, false);
      assert.deepEqual(fakes().checksOf(provider, to).map((c) => c.code), [code], 'the provider was asked and said the verification is gone');
      const row = await storedRequest(get().knex, requestId);
      assert.equal(row.attempts, 1);
    });
  }

  for (const mode of ['null', 'absent'] as const) {
    it(`Twilio answering \`valid\` ${mode === 'null' ? 'null' : 'left out'}: the right code verifies on status alone`, async () => {
      fakes().twilio.setValidField(mode);
      const { app } = startKit(get().knex, fakeEnv(fakes(), 'Twilio'));
      const to = phone('+35989');
      await sendAccepted(app, 'sms', to);
      await verifyAndDelete(app, to, fakes().codeFor('Twilio', to));
    });
  }

  for (const code of [20429, 60212, 60207]) {
    it(`a Twilio 429 (code ${code}) fails over to Sinch, which delivers and checks`, async () => {
      fakes().twilio.queueBehaviour({ type: 'error', status: 429, code }, 'send');
      const { app } = startKit(get().knex, fakeEnv(fakes(), 'Twilio;Sinch'));
      const to = phone('+35989');
      const requestId = await sendAccepted(app, 'sms', to);
      assert.equal((await storedRequest(get().knex, requestId)).provider, 'Sinch');
      await verifyAndDelete(app, to, fakes().codeFor('Sinch', to));
    });
  }

  it('after Twilio answers 60202 the next send for that number goes to Sinch, without calling Twilio', async () => {
    // limits off: the kit's own resend cooldown would otherwise refuse the second send here.
    const otp = createOtp({ db: get().knex, env: fakeEnv(fakes(), 'Twilio;Sinch'), limits: false, logger: recordingLogger() });
    const to = phone('+35989');
    assert.equal((await otp.sendSms({ number: to })).provider, 'Twilio');
    fakes().twilio.queueBehaviour({ type: 'error', status: 429, code: 60202, message: 'Max check attempts reached' }, 'check');
    const refused = await otp.verify({ number: to }, wrongCode(fakes().codeFor('Twilio', to)));
    assert.deepEqual([refused.requestValid, refused.reason], [false, 'OTP_EXPIRED']);
    const twilioSends = fakes().sendsTo('Twilio', to);
    assert.equal((await otp.sendSms({ number: to })).provider, 'Sinch');
    assert.equal(fakes().sendsTo('Twilio', to), twilioSends, 'Twilio is not asked again for a number it locked');
    const verified = await otp.verify({ number: to }, fakes().codeFor('Sinch', to));
    assert.equal(verified.codeValid, true);
  });
});
