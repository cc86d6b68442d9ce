/**
 * Sinch Verification provider against a loopback fake, through the real @sinch/sdk-core over HTTP
 * (no SDK method is stubbed; the fake checks signatures with its own implementation of Sinch's
 * documented string-to-sign). Every report row of the mapping table in docs/providers.md.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { expectProviderError } from '../helpers/providers.js';
import { checkInput, ctx, PHONE, sendInput, useSinch } from './helpers/sinch.js';
import { sinchProvider, type SinchOptions } from '../../lib/providers/sinch.js';
import type { OtpProvider } from '../../lib/types.js';
import { startSinchFake, type SinchFake, type SinchFakeBehaviour } from '../helpers/fakes/sinch-fake.js';



describe('Sinch provider', { timeout: 20_000 }, () => {
  const sinch = useSinch();
  let fake: SinchFake;
  let provider: OtpProvider;
  let options: () => SinchOptions;
  beforeEach(() => {
    ({ fake, provider, options } = sinch());
  });

  it('describes itself as a code-owning SMS, call and WhatsApp provider whose codes are 1-10 letters, digits or "-"', () => {
    assert.equal(provider.name, 'Sinch');
    assert.deepEqual(provider.channels, ['sms', 'call', 'whatsapp']);
    assert.equal(provider.ownsCode, true);
    assert.equal(typeof provider.check, 'function');
    for (const code of ['1234', 'AB12CD', 'abc-12', '1234567890']) assert.equal(provider.codeFormat?.pattern.test(code), true, code);
    for (const code of ['', '12345678901', '12 34', '12_34']) assert.equal(provider.codeFormat?.pattern.test(code), false, code);
  });

  describe('send', () => {
    it('starts an SMS verification with a signed request and returns the verification id', async () => {
      const result = await provider.send(sendInput());
      assert.equal(fake.requests.length, 1);
      const req = fake.requests[0]!;
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/verification/v1/verifications');
      assert.equal(req.authOk, true);
      assert.match(String(req.headers['content-type']), /^application\/json/);
      assert.match(String(req.headers.authorization), new RegExp(`^Application ${fake.applicationKey}:`));
      const body = req.body as { reference: string };
      assert.match(body.reference, /^req-1\.[0-9a-f]{6}$/, 'the reference is the request id plus a per-attempt suffix');
      assert.deepEqual(req.body, { identity: { type: 'number', endpoint: PHONE }, reference: body.reference, method: 'sms' });
      assert.deepEqual(fake.problems, []);
      const delivery = fake.deliveries[0]!;
      assert.equal(result.ref, delivery.id);
      assert.deepEqual(result.request, { method: 'sms', reference: body.reference });
      assert.deepEqual(result.response, { id: delivery.id, method: 'sms' });
      assert.doesNotMatch(JSON.stringify(result), new RegExp(fake.applicationSecret.replace(/[+/=]/g, '\\$&')));
    });

    it('gives every attempt of a request its own reference, so a retry is not refused as a duplicate (40900)', async () => {
      const strict = await startSinchFake({ rejectDuplicateReference: true });
      try {
        const p = sinchProvider({ applicationKey: strict.applicationKey, applicationSecret: strict.applicationSecret, baseUrl: strict.url }, ctx);
        await p.send(sendInput({ requestId: 'req-retry' }));
        await p.send(sendInput({ requestId: 'req-retry' }));
        const refs = strict.requests.map((r) => (r.body as { reference: string }).reference);
        assert.equal(refs.length, 2);
        assert.notEqual(refs[0], refs[1]);
      } finally {
        await strict.close();
      }
    });

    it('starts a voice verification with method callout', async () => {
      const result = await provider.send(sendInput({ channel: 'call', requestId: 'req-call' }));
      const req = fake.requests[0]!;
      assert.equal(req.path, '/verification/v1/verifications');
      const reference = (req.body as { reference: string }).reference;
      assert.match(reference, /^req-call\.[0-9a-f]{6}$/);
      assert.deepEqual(req.body, { identity: { type: 'number', endpoint: PHONE }, reference, method: 'callout' });
      assert.equal(req.authOk, true);
      assert.deepEqual(fake.problems, []);
      assert.deepEqual(result.request, { method: 'callout', reference });
      assert.deepEqual(result.response, { id: fake.deliveries[0]!.id, method: 'callout' });
    });

    it('accepts a base URL with a trailing slash', async () => {
      const p = sinchProvider({ ...options(), baseUrl: `${fake.url}/` }, ctx);
      const result = await p.send(sendInput());
      assert.equal(result.ref, fake.deliveries[0]!.id);
      assert.equal(fake.requests[0]!.path, '/verification/v1/verifications');
    });
  });

  describe('check', () => {
    it('answers wrong for a wrong code, approved for the right one, then gone', async () => {
      await provider.send(sendInput());
      const code = fake.codeFor(PHONE)!;
      assert.match(code, /^\d{4}$/);
      const wrongCode = code === '0000' ? '1111' : '0000';
      assert.deepEqual(await provider.check!(checkInput(wrongCode)), { status: 'wrong' });
      assert.deepEqual(await provider.check!(checkInput(code)), { status: 'approved' });
      // SUCCESSFUL once: the verification is over, so Sinch answers 40400.
      assert.deepEqual(await provider.check!(checkInput(code)), { status: 'gone' });
      const report = fake.requests[1]!;
      assert.equal(report.method, 'PUT');
      assert.equal(report.path, `/verification/v1/verifications/number/${PHONE}`);
      assert.deepEqual(report.body, { method: 'sms', sms: { code: wrongCode } });
      assert.equal(report.authOk, true);
      assert.deepEqual(fake.problems, []);
    });

    it('reports a voice code with method callout', async () => {
      await provider.send(sendInput({ channel: 'call' }));
      const code = fake.codeFor(PHONE)!;
      assert.deepEqual(await provider.check!(checkInput(code, { channel: 'call' })), { status: 'approved' });
      assert.deepEqual(fake.requests[1]!.body, { method: 'callout', callout: { code } });
      assert.deepEqual(fake.problems, []);
    });

    it('maps 40003 (invalid identity or code) to wrong', async () => {
      fake.enqueue('report', { type: 'error', httpStatus: 400, errorCode: 40003, message: 'Invalid identity or code.' });
      assert.deepEqual(await provider.check!(checkInput('1234')), { status: 'wrong' });
    });

    it('maps 40400 (no such verification) to gone', async () => {
      assert.deepEqual(await provider.check!(checkInput('1234')), { status: 'gone' });
      assert.equal(fake.requests.length, 1);
    });

    it('maps report statuses: PENDING and FAIL/Invalid code wrong; FAIL/Expired, DENIED, ABORTED, ERROR gone', async () => {
      const cases: [SinchFakeBehaviour, string][] = [
        [{ type: 'status', status: 'PENDING' }, 'wrong'],
        [{ type: 'status', status: 'FAIL', reason: 'Invalid code' }, 'wrong'],
        [{ type: 'status', status: 'FAIL' }, 'wrong'],
        [{ type: 'status', status: 'FAIL', reason: 'Expired' }, 'gone'],
        [{ type: 'status', status: 'FAIL', reason: 'Failed pending' }, 'gone'],
        [{ type: 'status', status: 'FAIL', reason: 'Hung up without entering valid code' }, 'gone'],
        [{ type: 'status', status: 'DENIED', reason: 'Blocked' }, 'gone'],
        [{ type: 'status', status: 'DENIED', reason: 'Fraud' }, 'gone'],
        [{ type: 'status', status: 'ABORTED' }, 'gone'],
        [{ type: 'status', status: 'ERROR', reason: 'Internal error' }, 'gone'],
        [{ type: 'status', status: 'SUCCESSFUL' }, 'approved'],
      ];
      for (const [behaviour, expected] of cases) {
        fake.enqueue('report', behaviour);
        assert.deepEqual(await provider.check!(checkInput('1234')), { status: expected }, JSON.stringify(behaviour));
      }
    });

    it('treats an expired verification as gone', async () => {
      const shortFake = await startSinchFake({ ttlMs: 50 });
      try {
        const p = sinchProvider({ applicationKey: shortFake.applicationKey, applicationSecret: shortFake.applicationSecret, baseUrl: shortFake.url }, ctx);
        await p.send(sendInput());
        const code = shortFake.deliveries[0]!.code;
        await sleep(80);
        assert.deepEqual(await p.check!(checkInput(code)), { status: 'gone' });
      } finally {
        await shortFake.close();
      }
    });

    for (const codeType of ['Alpha', 'Alphanumeric', 'Numeric'] as const) {
      it(`verifies a ${codeType} code of another length (8) than the kit's`, async () => {
        const other = await startSinchFake({ codeType, codeLength: 8 });
        try {
          const p = sinchProvider({ applicationKey: other.applicationKey, applicationSecret: other.applicationSecret, baseUrl: other.url }, ctx);
          await p.send(sendInput());
          const code = other.codeFor(PHONE)!;
          assert.equal(code.length, 8);
          assert.equal(p.codeFormat?.pattern.test(code), true);
          assert.deepEqual(await p.check!(checkInput(code)), { status: 'approved' });
          assert.deepEqual(other.problems, []);
        } finally {
          await other.close();
        }
      });
    }

    it('DENIED (fraud) and ABORTED from the service logic end the verification: gone, then 40400 gone', async () => {
      for (const end of ['deny', 'abort'] as const) {
        fake.reset();
        await provider.send(sendInput());
        const code = fake.codeFor(PHONE)!;
        if (end === 'deny') fake.deny(PHONE, 'Fraud');
        else fake.abort(PHONE);
        assert.deepEqual(await provider.check!(checkInput(code)), { status: 'gone' });
        assert.deepEqual(await provider.check!(checkInput(code)), { status: 'gone' });
      }
    });

    it('after the attempt limit a wrong report ends the verification: the right code then finds it gone', async () => {
      const limited = await startSinchFake({ maxAttempts: 3 });
      try {
        const p = sinchProvider({ applicationKey: limited.applicationKey, applicationSecret: limited.applicationSecret, baseUrl: limited.url }, ctx);
        await p.send(sendInput());
        const code = limited.codeFor(PHONE)!;
        const wrongCode = code === '0000' ? '1111' : '0000';
        for (let i = 0; i < 3; i += 1) assert.deepEqual(await p.check!(checkInput(wrongCode)), { status: 'wrong' });
        assert.deepEqual(await p.check!(checkInput(code)), { status: 'gone' });
      } finally {
        await limited.close();
      }
    });

    it('40003 counts as a wrong code and 40400 as gone only with their documented HTTP status', async () => {
      fake.enqueue('report', { type: 'error', httpStatus: 422, errorCode: 40003 }, { type: 'error', httpStatus: 500, errorCode: 40400 });
      const e1 = await expectProviderError(() => provider.check!(checkInput('1234')));
      assert.deepEqual([e1.kind, e1.retryable, e1.providerCode], ['rejected', false, '40003']);
      const e2 = await expectProviderError(() => provider.check!(checkInput('1234')));
      assert.deepEqual([e2.kind, e2.retryable, e2.providerCode], ['rejected', true, '40400']);
    });

    it('throws bad-response for a report without a status', async () => {
      fake.enqueue('report', { type: 'json', body: { id: 'x', method: 'sms' } });
      const error = await expectProviderError(() => provider.check!(checkInput('1234')));
      assert.equal(error.kind, 'bad-response');
    });

    it('throws a classified ProviderError for other report errors, with Retry-After', async () => {
      fake.enqueue('report', { type: 'error', httpStatus: 429, errorCode: 42901, message: 'Too many requests', retryAfter: '3' });
      const error = await expectProviderError(() => provider.check!(checkInput('1234')));
      assert.equal(error.kind, 'rejected');
      assert.equal(error.retryable, true);
      assert.equal(error.providerCode, '42901');
      assert.equal(error.httpStatus, 429);
      assert.equal(error.retryAfterMs, 3000);
    });
  });
});
