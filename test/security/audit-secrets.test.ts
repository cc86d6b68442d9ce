/**
 * Audit 19.4: the published development secret never signs real traffic, and a spent token record
 * is bound to its purpose. Also issue 18: production without a database fails at startup.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { tokenKeyring, signToken } from '../../lib/core/token.js';
import { createOtp, isOtpError } from '../../lib/index.js';
import { silentLogger } from '../../lib/logger.js';
import { DEVELOPMENT_SECRET } from '../../lib/options.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit, TEST_SECRET } from '../helpers/kit.js';

const TWILIO_ENV = { TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`, TWILIO_AUTH_TOKEN: 'b'.repeat(32), TWILIO_VERIFY_SERVICE_SID: `VA${'c'.repeat(32)}` };
const configInvalid = (pattern: RegExp) => (e: unknown): boolean => isOtpError(e) && e.code === 'CONFIG_INVALID' && pattern.test(e.message);

it('without OTP_SECRET, routing a real provider (forced, any NODE_ENV but production) fails at startup naming OTP_SECRET', () => {
  for (const nodeEnv of [undefined, 'prod', 'Production', 'development']) {
    const env = { ...TWILIO_ENV, ...(nodeEnv === undefined ? {} : { NODE_ENV: nodeEnv }) };
    assert.throws(() => createOtp({ db: 'sqlite::memory:', env, providers: ['Twilio'], logger: silentLogger }), configInvalid(/OTP_SECRET is not set.*Twilio/), `NODE_ENV=${String(nodeEnv)}`);
  }
  // The Console provider alone keeps `npm start` working with no setup.
  assert.doesNotThrow(() => createOtp({ db: 'sqlite::memory:', env: {}, providers: ['Console'], logger: silentLogger }));
});

it('OTP_SECRET equal to the published development secret is refused in production', () => {
  assert.throws(() => createOtp({ db: 'sqlite::memory:', env: { NODE_ENV: 'production', OTP_SECRET: DEVELOPMENT_SECRET }, providers: ['Twilio'], logger: silentLogger }), configInvalid(/development secret is refused/));
});

it('in production, no DATABASE_URL fails at startup naming it, unless SQLite is asked for', () => {
  const env = { NODE_ENV: 'production', OTP_SECRET: TEST_SECRET, ...TWILIO_ENV };
  assert.throws(() => createOtp({ env, providers: ['Twilio'], logger: silentLogger }), configInvalid(/DATABASE_URL/));
  assert.doesNotThrow(() => createOtp({ env: { ...env, DATABASE_URL: 'sqlite::memory:' }, providers: ['Twilio'], logger: silentLogger }));
});

forEachDatabase('audit 19.4: development secret and purpose-bound tokens', (db) => {
  it('a settings row naming a real provider is refused with the development secret: setRouting, ready() and sends', async () => {
    const otp = createOtp({ db: db().knex, env: TWILIO_ENV, logger: silentLogger, console: { write: () => {} } });
    await otp.migrate();
    await assert.rejects(otp.setRouting('Twilio'), configInvalid(/OTP_SECRET is not set/));
    await db().knex('otp_settings').insert({ key: 'otp_sms_provider', value: 'Console;Twilio:+35987' }).onConflict('key').merge();
    await assert.rejects(otp.ready(), configInvalid(/OTP_SECRET is not set.*Twilio/));
    await assert.rejects(otp.sendSms('+359871234567'), configInvalid(/OTP_SECRET is not set/));
    assert.equal((await otp.sendSms('+359881234567')).provider, 'Console', 'a number routed to Console only still works');
  });

  it('a token verified for one purpose and re-signed for another (known key) is refused, even unused', async () => {
    const kit = await createTestKit(db());
    const phone = '+359871900001';
    const sent = await kit.otp.sendSms(phone, { purpose: 'newsletter' });
    const verified = await kit.otp.verify(phone, sent.code ?? '');
    assert.equal(verified.codeValid, true);
    const forged = signToken(tokenKeyring([TEST_SECRET]), { phone, requestId: sent.requestId, purpose: 'delete-account', verifiedAt: kit.clock.now() }, kit.clock.now(), 300);
    await assert.rejects(kit.otp.checkToken(forged.token, { purpose: 'delete-account' }), (e: unknown) => isOtpError(e) && e.code === 'OTP_TOKEN_USED');
    // The genuine token still works once for its own purpose.
    assert.equal((await kit.otp.checkToken(verified.token ?? '', { purpose: 'newsletter' })).purpose, 'newsletter');
  });
});

it('the public Otp carries no secret: no context, and otp.config holds no key, credential or database URL', () => {
  const db = 'postgres://user:db-password-123@127.0.0.1:1/none';
  const otp = createOtp({ db, secret: TEST_SECRET, env: TWILIO_ENV, providers: ['Twilio'], logger: silentLogger });
  const shown = JSON.stringify(otp.config);
  for (const secret of [TEST_SECRET, TWILIO_ENV.TWILIO_AUTH_TOKEN, 'db-password-123']) assert.ok(!shown.includes(secret), `otp.config shows ${secret}`);
  assert.deepEqual(Object.keys(otp).filter((k) => ['context', 'secrets', 'deps'].includes(k)), []);
  assert.equal(otp.config.codeLength, 6, 'the settings in force are still there');
});
