/**
 * Twilio provider against the loopback Twilio Verify fake, through the real `twilio` SDK: the
 * requests, and every VerificationCheck row of the mapping table in docs/providers.md (status
 * decides; `valid` true, false, null or absent only cross-checks), 60202/60203 number locks.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { checkInput, ctx, failure, PHONE, sendInput, useTwilio } from './helpers/twilio.js';
import { twilioProvider, type TwilioOptions } from '../../lib/providers/twilio.js';
import type { OtpProvider } from '../../lib/types.js';
import { type TwilioFake } from '../helpers/fakes/twilio-fake.js';

describe('Twilio provider against a loopback Twilio Verify fake', () => {
  const twilio = useTwilio();
  let fake: TwilioFake;
  let provider: OtpProvider;
  let options: TwilioOptions;
  beforeEach(() => {
    ({ fake, provider, options } = twilio());
  });

  it('declares its name, channels, that it owns the code, and the codes it issues (4-10 digits)', () => {
    assert.equal(provider.name, 'Twilio');
    assert.deepEqual(provider.channels, ['sms', 'call', 'whatsapp']);
    assert.equal(provider.ownsCode, true);
    assert.equal(typeof provider.check, 'function');
    assert.equal(provider.codeFormat?.pattern.test('1234'), true);
    assert.equal(provider.codeFormat?.pattern.test('1234567890'), true);
    assert.equal(provider.codeFormat?.pattern.test('123'), false);
    assert.equal(provider.codeFormat?.pattern.test('12345678901'), false);
  });

  it('starts an SMS verification with the documented request', async () => {
    const result = await provider.send(sendInput());
    assert.equal(fake.requests.length, 1);
    const req = fake.requests[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, `/v2/Services/${fake.serviceSid}/Verifications`);
    assert.equal(req.headers.authorization, `Basic ${Buffer.from(`${fake.accountSid}:${fake.authToken}`).toString('base64')}`);
    assert.match(req.headers['content-type'] ?? '', /^application\/x-www-form-urlencoded/);
    assert.deepEqual(req.form, { To: PHONE, Channel: 'sms' });
    assert.equal(req.rawBody, 'To=%2B14155550100&Channel=sms');

    const v = fake.verifications[0]!;
    assert.equal(result.ref, v.sid);
    assert.match(result.ref ?? '', /^VE[0-9a-f]{32}$/);
    assert.deepEqual(result.request, { to: PHONE, channel: 'sms' });
    assert.deepEqual(result.response, { sid: v.sid, status: 'pending', channel: 'sms' });
    assert.doesNotMatch(JSON.stringify(result), new RegExp(`${fake.authToken}|${fake.accountSid}`));
  });

  it('starts a voice call verification with Channel=call', async () => {
    const result = await provider.send(sendInput({ channel: 'call' }));
    assert.deepEqual(fake.requests[0]!.form, { To: PHONE, Channel: 'call' });
    assert.deepEqual(result.request, { to: PHONE, channel: 'call' });
    assert.equal((result.response as { channel: string }).channel, 'call');
  });

  it('approves the code the fake "sent", then reports the verification gone (20404)', async () => {
    const sent = await provider.send(sendInput());
    const code = fake.codeFor(PHONE);
    assert.ok(code !== undefined);
    assert.deepEqual(await provider.check!(checkInput(code, { ref: sent.ref })), { status: 'approved' });
    const req = fake.requests[1]!;
    assert.equal(req.path, `/v2/Services/${fake.serviceSid}/VerificationCheck`);
    assert.deepEqual(req.form, { To: PHONE, Code: code });
    assert.deepEqual(await provider.check!(checkInput(code)), { status: 'gone' });
  });

  it('answers wrong for a wrong code and still approves the right one afterwards', async () => {
    await provider.send(sendInput());
    const code = fake.codeFor(PHONE)!;
    const wrongCode = code === '111111' ? '222222' : '111111';
    assert.deepEqual(await provider.check!(checkInput(wrongCode)), { status: 'wrong' });
    assert.deepEqual(await provider.check!(checkInput(code)), { status: 'approved' });
  });

  it('reports gone after the verification expired', async () => {
    await provider.send(sendInput());
    const code = fake.codeFor(PHONE)!;
    fake.expire(PHONE);
    assert.deepEqual(await provider.check!(checkInput(code)), { status: 'gone' });
  });

  for (const mode of ['null', 'absent'] as const) {
    it(`decides on status alone when \`valid\` is ${mode === 'null' ? 'null' : 'left out'}: wrong, then approved`, async () => {
      fake.setValidField(mode);
      await provider.send(sendInput());
      const code = fake.codeFor(PHONE)!;
      assert.deepEqual(await provider.check!(checkInput(code === '111111' ? '222222' : '111111')), { status: 'wrong' });
      assert.deepEqual(await provider.check!(checkInput(code)), { status: 'approved' });
      const answer = fake.requests.filter((r) => r.op === 'check');
      assert.equal(answer.length, 2);
    });
  }

  // The mapping table of docs/providers.md, one row per case: a 200 VerificationCheck answer.
  const checkRows: [body: Record<string, unknown>, expected: 'approved' | 'wrong' | 'gone' | 'bad-response'][] = [
    [{ status: 'approved', valid: true }, 'approved'],
    [{ status: 'approved', valid: null }, 'approved'],
    [{ status: 'approved' }, 'approved'],
    [{ status: 'pending', valid: false }, 'wrong'],
    [{ status: 'pending', valid: null }, 'wrong'],
    [{ status: 'pending' }, 'wrong'],
    ...(['canceled', 'max_attempts_reached', 'expired', 'deleted', 'failed'] as const).map((status): [Record<string, unknown>, 'gone'] => [{ status, valid: null }, 'gone']),
    [{ status: 'expired', valid: false }, 'gone'],
    [{ status: 'approved', valid: false }, 'bad-response'],
    [{ status: 'pending', valid: true }, 'bad-response'],
    [{ status: 'canceled', valid: true }, 'bad-response'],
    [{ status: 'something-new', valid: null }, 'bad-response'],
    [{ valid: true }, 'bad-response'],
  ];
  for (const [body, expected] of checkRows) {
    it(`maps a check answer ${JSON.stringify(body)} to ${expected}`, async () => {
      const answer = { sid: `VE${'c3'.repeat(16)}`, service_sid: fake.serviceSid, account_sid: fake.accountSid, to: PHONE, channel: 'sms', ...body };
      fake.setBehaviour({ type: 'raw', status: 200, contentType: 'application/json', body: JSON.stringify(answer) }, 'check');
      if (expected === 'bad-response') {
        const e = await failure(provider.check!(checkInput('123456')));
        assert.equal(e.kind, 'bad-response');
      } else {
        assert.deepEqual(await provider.check!(checkInput('123456')), { status: expected });
      }
    });
  }

  it('after 60202 (a sixth check) reports gone, and refuses the next sends for that number without calling Twilio', async () => {
    const clock = { now: Date.now() };
    const p = twilioProvider(options, { ...ctx, clock: () => clock.now });
    await p.send(sendInput());
    const code = fake.codeFor(PHONE)!;
    const wrongCode = code === '111111' ? '222222' : '111111';
    for (let i = 0; i < 5; i += 1) assert.deepEqual(await p.check!(checkInput(wrongCode)), { status: 'wrong' });
    assert.deepEqual(await p.check!(checkInput(code)), { status: 'gone' });
    assert.ok(fake.lockedFor(PHONE) > 0, 'real Twilio refuses new verifications for the number now');

    const requestsBefore = fake.requests.length;
    const e = await failure(p.send(sendInput()));
    assert.equal(e.kind, 'rate-limited');
    assert.equal(e.retryable, false);
    assert.equal(e.providerCode, '60202');
    assert.ok(e.retryAfterMs !== undefined && e.retryAfterMs > 599_000 && e.retryAfterMs <= 600_000, String(e.retryAfterMs));
    assert.equal(fake.requests.length, requestsBefore, 'Twilio is not called again for a locked number');
    // Another number is not affected.
    assert.match((await p.send(sendInput({ phone: '+14155550199' }))).ref ?? '', /^VE[0-9a-f]{32}$/);
    // Ten minutes later (the verification expired at Twilio too), Twilio is asked again.
    clock.now += 600_001;
    fake.expire(PHONE);
    assert.match((await p.send(sendInput())).ref ?? '', /^VE[0-9a-f]{32}$/);
  });

  it('a provider that did not see the 60202 gets the fake\'s refusal (429/60202) as rate-limited', async () => {
    await provider.send(sendInput());
    const code = fake.codeFor(PHONE)!;
    const wrongCode = code === '111111' ? '222222' : '111111';
    for (let i = 0; i < 6; i += 1) await provider.check!(checkInput(wrongCode));
    const other = twilioProvider(options, ctx); // e.g. another instance of the app
    const e = await failure(other.send(sendInput()));
    assert.deepEqual([e.kind, e.providerCode, e.httpStatus, e.retryable], ['rate-limited', '60202', 429, false]);
    assert.equal(e.retryAfterMs, 600_000);
  });

  it('60203 (a sixth send) is rate-limited for 10 minutes and locks the number', async () => {
    for (let i = 0; i < 5; i += 1) await provider.send(sendInput());
    const e = await failure(provider.send(sendInput()));
    assert.deepEqual([e.kind, e.providerCode, e.httpStatus, e.retryable, e.retryAfterMs], ['rate-limited', '60203', 429, false, 600_000]);
    const count = fake.requests.length;
    const again = await failure(provider.send(sendInput()));
    assert.equal(again.kind, 'rate-limited');
    assert.equal(fake.requests.length, count);
  });

  it('60203 with a Retry-After header locks the number for that long instead', async () => {
    fake.queueBehaviour({ type: 'error', status: 429, code: 60203, message: 'Max send attempts reached', retryAfter: '120' }, 'send');
    const e = await failure(provider.send(sendInput()));
    assert.equal(e.retryAfterMs, 120_000);
    const locked = await failure(provider.send(sendInput()));
    assert.ok(locked.retryAfterMs !== undefined && locked.retryAfterMs <= 120_000);
  });

  it('answers SIDs of the documented shape (VE + 32 hex) and refuses a send answer with a malformed one', async () => {
    const ok = await provider.send(sendInput());
    assert.match(ok.ref ?? '', /^VE[0-9a-f]{32}$/);
    fake.setBehaviour({ type: 'raw', status: 201, contentType: 'application/json', body: JSON.stringify({ sid: 'VE1', status: 'pending', channel: 'sms' }) }, 'send');
    assert.equal((await failure(provider.send(sendInput()))).kind, 'bad-response');
  });

});
