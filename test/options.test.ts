import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createOtp } from '../lib/index.js';
import { pauseAfter } from '../lib/core/retention.js';
import { resolveOptions } from '../lib/options.js';

const fails = (options: Parameters<typeof resolveOptions>[0], pattern: RegExp) =>
  assert.throws(() => resolveOptions(options), (e: unknown) => e instanceof Error && (e as { code?: string }).code === 'CONFIG_INVALID' && pattern.test(e.message), `expected ${pattern}`);

describe('createOtp options', () => {
  it('applies documented defaults', () => {
    const c = resolveOptions({ env: {} });
    assert.deepEqual(
      [c.codeLength, c.ttlSeconds, c.maxAttempts, c.retry, c.maxRetries, c.tokenTtlSeconds, c.providerTimeoutMs, c.db, c.usingDevSecret],
      [6, 300, 5, false, 5, 300, 10_000, 'sqlite:./otp.sqlite', true],
    );
  });

  it('names the option and the fix', () => {
    fails({ env: {}, codeLength: 4 }, /`codeLength`.*got 4.*at least 6 digits/);
    fails({ env: {}, ttlSeconds: 601 }, /`ttlSeconds`.*10 minutes/);
    fails({ env: {}, secret: 'short' }, /`secret`.*a string of 5 characters.*32/);
    fails({ env: {}, messageTemplate: 'no placeholder' }, /`messageTemplate`.*_CODE_/);
    fails({ env: {}, codeLenght: 6 } as never, /unknown option `codeLenght` \(did you mean `codeLength`\?\)/);
    fails({ env: {}, sms: { maxRetries: -1 } }, /`sms.maxRetries`/);
  });

  it('retention: privacy defaults, validated like every option, false keeps everything', () => {
    assert.deepEqual(resolveOptions({ env: {} }).retention, { enabled: true, requestDays: 30, failureDays: 30, webhookDays: 7, providerPayloads: 'failures', insightsDays: 400, batchSize: 5000, pauseMs: 10, busyShare: 0.1 });
    assert.equal(resolveOptions({ env: {}, retention: false }).retention.enabled, false);
    assert.equal(resolveOptions({ env: {}, retention: { requestDays: 7 } }).retention.requestDays, 7);
    fails({ env: {}, retention: { requestDays: 0 } }, /`retention.requestDays`.*greater than or equal to 1.*got 0.*whole days/);
    fails({ env: {}, retention: { providerPayloads: 'never' } as never }, /`retention.providerPayloads`.*failures, always/);
    fails({ env: {}, retention: true as never }, /`retention` must be one of \[false, object\]/);
    fails({ env: {}, retention: { days: 3 } as never }, /unknown option `retention.days`/);
    fails({ env: {}, retention: { busyShare: 0 } }, /`retention.busyShare` must be greater than 0/);
    // A batch of 40 ms at a quarter share waits 120 ms; flat out only the shortest pause.
    assert.equal(pauseAfter({ pauseMs: 10, busyShare: 0.25 }, 40), 120);
    assert.equal(pauseAfter({ pauseMs: 10, busyShare: 1 }, 40), 10);
  });

  it('reads the environment under explicit options', () => {
    const env = { DATABASE_URL: 'postgres://u@h/db', OTP_SECRET: 'x'.repeat(32) + ',' + 'y'.repeat(40), OTP_SMS_PROVIDER: 'Twilio;Mada:+35987', OTP_SMS_RETRY: 'true', OTP_SMS_MAX_RETRIES: '20' };
    const c = resolveOptions({ env });
    assert.equal(c.db, 'postgres://u@h/db');
    assert.deepEqual(c.secrets, ['x'.repeat(32), 'y'.repeat(40)]);
    assert.deepEqual(c.forcedRouting, { value: 'Twilio;Mada:+35987', from: 'OTP_SMS_PROVIDER' });
    assert.deepEqual([c.retry, c.maxRetries], [true, 20]);
    const forced = resolveOptions({ env, providers: ['Sinch'], sms: { retry: false } });
    assert.deepEqual(forced.forcedRouting, { value: ['Sinch'], from: 'the `providers` option' });
    assert.equal(forced.retry, false);
    fails({ env: { OTP_SMS_MAX_RETRIES: 'lots' } }, /OTP_SMS_MAX_RETRIES="lots"/);
    fails({ env: { OTP_SMS_RETRY: 'maybe' } }, /OTP_SMS_RETRY="maybe"/);
    fails({ env: { OTP_SECRET: 'short' } }, /OTP_SECRET.*32/);
  });

  it('refuses the development secret and the Console provider in production', () => {
    fails({ env: { NODE_ENV: 'production' } }, /no secret/);
    assert.throws(() => createOtp({ env: { NODE_ENV: 'production', OTP_SECRET: 'p'.repeat(40) }, db: 'sqlite::memory:', providers: ['Console'] }), /Console provider/);
  });

  it('fails at startup on a malformed forced routing, naming the bad part', () => {
    assert.throws(() => createOtp({ env: {}, db: 'sqlite::memory:', providers: 'Twilio;Mada:359' }), /`providers` option.*malformed prefix "359"/);
    assert.throws(() => createOtp({ env: { OTP_SMS_PROVIDER: 'Twilio;;Sinch' }, db: 'sqlite::memory:' }), /OTP_SMS_PROVIDER.*part 2 is empty/);
  });

  it('fails at startup when a routed provider has no credentials, naming the variable', async () => {
    assert.throws(() => createOtp({ env: {}, db: 'sqlite::memory:', providers: ['Twilio'] }), /provider Twilio is routed.*TWILIO_ACCOUNT_SID/);
    assert.throws(() => createOtp({ env: { OTP_SMS_PROVIDER: 'Console;Mada:+35987' }, db: 'sqlite::memory:' }), /provider Mada is routed.*MADA_URL/);
    const otp = createOtp({ env: {}, db: 'sqlite::memory:', logger: { debug() {}, info() {}, warn() {}, error() {} } });
    await otp.migrate();
    // setRouting() refuses a provider it cannot build, and leaves the row as it was.
    await assert.rejects(otp.setRouting('Console;Sinch:+35988'), /provider Sinch is routed.*SINCH_APPLICATION_KEY/);
    assert.equal((await otp.routing()).source, 'Console');
    // A row written by someone else is refused at startup.
    await otp.knex('otp_settings').insert({ key: 'otp_sms_provider', value: 'Console;Sinch:+35988' });
    await assert.rejects(otp.ready(), /provider Sinch is routed.*SINCH_APPLICATION_KEY/);
    await otp.close();
  });
});
