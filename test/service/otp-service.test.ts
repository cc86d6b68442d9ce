import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createOtp, OtpError } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit, TEST_SECRET } from '../helpers/kit.js';
import { lastCodeOf, recordingProvider } from '../helpers/providers.js';

const PHONE = '+359871234567';
const OTHER = '+359881234567';
const wrongOf = (code: string) => (code === '000000' ? '111111' : '000000');

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<OtpError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof OtpError, `expected OtpError ${code}, got ${String(error)}`);
    assert.equal(error.code, code);
    return error;
  }
  assert.fail(`expected OtpError ${code}`);
}

forEachDatabase('otp service', (db) => {
  it('sends, verifies once and issues a token (the seed flow)', async () => {
    const kit = await createTestKit(db());
    const sent = await kit.otp.sendSms({ number: PHONE });
    assert.equal(sent.status, 'sent');
    assert.equal(sent.provider, 'Console');
    assert.equal(sent.code, kit.lastCode());
    assert.match(kit.delivered.at(-1) ?? '', /^OTP [0-9]{6} for \+35987\*{5}67$/);
    assert.equal(sent.expiresAt.getTime(), kit.clock.now() + 300_000);

    const ok = await kit.otp.verify({ number: PHONE }, kit.lastCode());
    assert.equal(ok.requestValid, true);
    assert.equal(ok.codeValid, true);
    assert.equal(typeof ok.token, 'string');

    const again = await kit.otp.verify(PHONE, kit.lastCode());
    assert.deepEqual([again.requestValid, again.codeValid, again.reason], [false, false, 'OTP_NOT_FOUND'], 'single use (security #5)');
  });

  it('expires at the TTL on the injected clock (security #4)', async () => {
    const kit = await createTestKit(db(), { ttlSeconds: 600 });
    await kit.otp.sendSms(PHONE);
    const code = kit.lastCode();
    kit.clock.advance(599_999);
    assert.equal((await kit.otp.verify(PHONE, wrongOf(code))).reason, 'OTP_INVALID', 'still live at 599.999 s');
    kit.clock.advance(1);
    const late = await kit.otp.verify(PHONE, code);
    assert.deepEqual([late.requestValid, late.codeValid, late.reason], [false, false, 'OTP_EXPIRED']);
    assert.throws(() => createOtp({ db: db().knex, ttlSeconds: 601, env: {} }), /ttlSeconds.*10 minutes/);
  });

  it('counts wrong codes and kills the request after maxAttempts (security #9)', async () => {
    const kit = await createTestKit(db());
    await kit.otp.sendSms(PHONE);
    const code = kit.lastCode();
    for (let i = 0; i < 5; i += 1) {
      const r = await kit.otp.verify(PHONE, wrongOf(code));
      assert.deepEqual([r.requestValid, r.codeValid, r.reason, r.attemptsLeft], [true, false, 'OTP_INVALID', 4 - i]);
    }
    const r = await kit.otp.verify(PHONE, code);
    assert.deepEqual([r.requestValid, r.codeValid, r.reason], [false, false, 'OTP_TOO_MANY_ATTEMPTS']);
  });

  it('a new send supersedes the older live request (security #3)', async () => {
    const kit = await createTestKit(db());
    const first = await kit.otp.sendSms(OTHER);
    const oldCode = kit.lastCode();
    await kit.otp.verify(OTHER, wrongOf(oldCode));
    const second = await kit.otp.sendSms(OTHER);
    const newCode = kit.lastCode();
    const rows = await db().knex('otp_requests').whereIn('request_id', [first.requestId, second.requestId]).select('request_id', 'verify_status', 'code_cipher');
    const byId = Object.fromEntries(rows.map((r: { request_id: string; verify_status: string }) => [r.request_id, r.verify_status]));
    assert.equal(byId[first.requestId], 'superseded');
    assert.equal(byId[second.requestId], 'pending');
    if (oldCode !== newCode) assert.equal((await kit.otp.verify(OTHER, oldCode)).codeValid, false, 'the old code is refused');
    assert.equal((await kit.otp.verify(OTHER, newCode)).codeValid, true);
  });

  it('exactly one of 30 parallel correct verifies wins (security #6)', async () => {
    const kit = await createTestKit(db());
    for (let run = 0; run < 3; run += 1) {
      await kit.otp.sendSms(PHONE);
      const code = kit.lastCode();
      const results = await Promise.all(Array.from({ length: 30 }, () => kit.otp.verify(PHONE, code)));
      assert.equal(results.filter((r) => r.codeValid).length, 1, `run ${run}`);
      assert.ok(results.filter((r) => !r.codeValid).every((r) => r.reason === 'OTP_NOT_FOUND'));
    }
  });

  it('30 parallel wrong verifies count exactly maxAttempts (security #7)', async () => {
    const kit = await createTestKit(db());
    const sent = await kit.otp.sendSms(PHONE);
    const code = kit.lastCode();
    const results = await Promise.all(Array.from({ length: 30 }, () => kit.otp.verify(PHONE, wrongOf(code))));
    assert.equal(results.filter((r) => r.reason === 'OTP_INVALID').length, 5);
    assert.ok(results.filter((r) => r.reason !== 'OTP_INVALID').every((r) => r.reason === 'OTP_TOO_MANY_ATTEMPTS'));
    const row = await db().knex('otp_requests').where({ request_id: sent.requestId }).first();
    assert.equal(Number(row.attempts), 5);
    assert.equal((await kit.otp.verify(PHONE, code)).reason, 'OTP_TOO_MANY_ATTEMPTS');
  });

  it('binds the request to its purpose (security #8)', async () => {
    const kit = await createTestKit(db());
    await kit.otp.sendSms(PHONE, { purpose: 'login' });
    const code = kit.lastCode();
    assert.equal((await kit.otp.verify(PHONE, code, { purpose: 'payment' })).reason, 'OTP_NOT_FOUND');
    const ok = await kit.otp.verify(PHONE, code, { purpose: 'login' });
    assert.equal(ok.codeValid, true);
    const verified = await kit.otp.checkToken(ok.token!, { purpose: 'login' });
    assert.deepEqual([verified.phone, verified.purpose, verified.requestId], [PHONE, 'login', ok.requestId]);
  });

  it('refuses a channel no routed provider serves, with nothing stored (no fake success)', async () => {
    const smsOnly = recordingProvider('SmsOnly', ['sms']);
    const kit = await createTestKit(db(), { providers: ['SmsOnly'], customProviders: [smsOnly] });
    const before = await db().knex('otp_requests').count({ n: '*' }).first();
    const error = await rejectsWith(kit.otp.call(PHONE), 'CHANNEL_UNSUPPORTED');
    assert.equal(error.status, 422);
    const after = await db().knex('otp_requests').count({ n: '*' }).first();
    assert.equal(Number(after?.n), Number(before?.n));
    assert.equal(smsOnly.calls.length, 0);
  });

  it('fails over along the chain and skips providers without the channel', async () => {
    const a = recordingProvider('Alpha');
    const b = recordingProvider('Beta');
    const smsOnly = recordingProvider('SmsOnly', ['sms']);
    a.plan = ['retryable'];
    const kit = await createTestKit(db(), { providers: 'SmsOnly;Alpha;Beta', customProviders: [a, b, smsOnly] });
    const sent = await kit.otp.call(PHONE);
    assert.equal(sent.provider, 'Beta');
    assert.deepEqual([smsOnly.calls.length, a.calls.length, b.calls.length], [0, 1, 1]);
    const row = await db().knex('otp_requests').where({ request_id: sent.requestId }).first();
    assert.equal(row.chain, 'Alpha,Beta');
    assert.match(row.last_error, /Alpha/);
    assert.equal((await kit.otp.verify(PHONE, lastCodeOf(b))).codeValid, true);
  });

  it('answers 503 PROVIDER_UNAVAILABLE and marks the row failed when every provider fails and retry is off', async () => {
    const broken = recordingProvider('Broken');
    broken.plan = ['retryable'];
    const kit = await createTestKit(db(), { providers: ['Broken'], customProviders: [broken], sms: { retry: false } });
    const error = await rejectsWith(kit.otp.sendSms(OTHER), 'PROVIDER_UNAVAILABLE');
    assert.equal(error.status, 503);
    const row = await db().knex('otp_requests').where({ request_id: error.details.requestId }).first();
    assert.equal(row.status, 'failed');
    assert.equal(row.code_cipher, null, 'nothing left to retry: the sealed code is erased');
    assert.equal((await kit.otp.verify(OTHER, lastCodeOf(broken))).reason, 'OTP_NOT_FOUND');
  });

  it('reads the otp_sms_provider row and picks up a change without a restart', async () => {
    const a = recordingProvider('Alpha');
    const b = recordingProvider('Beta');
    const kit = await createTestKit(db(), { providers: undefined, customProviders: [a, b], settingsRefreshSeconds: 5 });
    await kit.otp.setRouting('Alpha;Beta:+35988');
    await kit.otp.ready();
    await kit.otp.sendSms(PHONE);
    await kit.otp.sendSms(OTHER);
    assert.deepEqual([a.calls.length, b.calls.length], [1, 1]);
    // Another process changes the row directly.
    await db().knex('otp_settings').where({ key: 'otp_sms_provider' }).update({ value: 'Beta' });
    await kit.otp.sendSms(PHONE);
    assert.equal(a.calls.length, 2, 'cached until the refresh interval');
    kit.clock.advance(5_000);
    await kit.otp.sendSms(PHONE);
    assert.deepEqual([a.calls.length, b.calls.length], [2, 2], 'the new row is in force');
    // A malformed row later is logged and ignored; the last good routing stays.
    await db().knex('otp_settings').where({ key: 'otp_sms_provider' }).update({ value: 'Beta;Nope' });
    kit.clock.advance(5_000);
    await kit.otp.sendSms(PHONE);
    assert.equal(b.calls.length, 3);
    assert.ok(kit.logs.some((l) => l.includes('unknown provider \\"Nope\\"') || l.includes('unknown provider "Nope"')));
    // ...but a malformed row at startup fails ready(), naming the bad part.
    const fresh = createOtp({ db: db().knex, secret: TEST_SECRET, customProviders: [a, b], env: {}, logger: kitLoggerSink() });
    await assert.rejects(fresh.ready(), /unknown provider "Nope"/);
    await assert.rejects(kit.otp.setRouting('Alpha;Beta:35988'), /malformed prefix "35988"/);
    await db().knex('otp_settings').where({ key: 'otp_sms_provider' }).update({ value: 'Console' });
  });

  it('validates input with errors that name the field', async () => {
    const kit = await createTestKit(db());
    const bad = await rejectsWith(kit.otp.sendSms('+3598'), 'VALIDATION_FAILED');
    assert.equal(bad.details.field, 'phone');
    assert.equal((await rejectsWith(kit.otp.verify(PHONE, '12345'), 'VALIDATION_FAILED')).details.field, 'code');
    assert.equal((await rejectsWith(kit.otp.sendSms(PHONE, { purpose: 'no spaces allowed' }), 'VALIDATION_FAILED')).details.field, 'purpose');
    await rejectsWith(kit.otp.verify({ number: 42 } as unknown as { number: string }, '123456'), 'VALIDATION_FAILED');
  });

  it('never writes a code to the database or the logs (security #2, #33)', async () => {
    const broken = recordingProvider('Broken');
    broken.plan = ['permanent', 'ok'];
    const kit = await createTestKit(db(), { providers: ['Broken', 'Console'], customProviders: [broken] });
    const codes: string[] = [];
    for (const phone of [PHONE, OTHER]) {
      await kit.otp.sendSms(phone);
      codes.push(kit.lastCode());
      await kit.otp.verify(phone, wrongOf(kit.lastCode()));
    }
    await kit.otp.verify(PHONE, codes[0]!);
    const tables = ['otp_requests', 'otp_settings'];
    for (const table of tables) {
      const rows = await db().knex(table).select('*');
      for (const row of rows as Record<string, unknown>[]) {
        for (const [column, value] of Object.entries(row)) {
          if (column === 'code_digest' || column === 'code_cipher') {
            // Random-looking by construction (any six digits can occur in 64 hex characters): check the shape.
            // A consumed or superseded code's digest is spent (SPENT_DIGEST, or a consume batch's tagged one), an ended one's cleared.
            if (value !== null) assert.match(value as string, column === 'code_digest' ? /^(?:[0-9a-f]{64}|-{16}(?:-{16}|[0-9a-f]{16})|)$/ : /^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
            continue;
          }
          for (const code of codes) {
            assert.notEqual(String(value), code, `${table}.${column} holds a code`);
            if (typeof value === 'string') assert.doesNotMatch(value, new RegExp(`(?<![0-9])${code}(?![0-9])`), `${table}.${column} contains a code`);
          }
        }
      }
    }
    for (const line of kit.logs) {
      for (const code of codes) assert.doesNotMatch(line, new RegExp(`(?<![0-9])${code}(?![0-9])`), `a log line contains a code: ${line}`);
      assert.ok(!line.includes(PHONE) && !line.includes(OTHER), `a log line contains a full number: ${line}`);
    }
  });
});

function kitLoggerSink() {
  const noop = () => {};
  return { debug: noop, info: noop, warn: noop, error: noop };
}
