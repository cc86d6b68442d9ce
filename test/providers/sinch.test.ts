/**
 * Sinch Verification provider against a loopback fake, through the real @sinch/sdk-core over HTTP
 * (no SDK method is stubbed).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProviderContext } from '../../lib/providers/context.js';
import { expectProviderError } from '../helpers/providers.js';
import { sinchOptionsFromEnv, sinchOptionsSchema, sinchProvider, type SinchOptions } from '../../lib/providers/sinch.js';
import { callProvider } from '../../lib/providers/timeout.js';
import type { OtpProvider, ProviderCheckInput, ProviderSendInput } from '../../lib/types.js';
import { startSinchFake, type SinchFake, type SinchFakeBehaviour } from '../helpers/fakes/sinch-fake.js';

const noop = (): void => undefined;
const ctx: ProviderContext = { logger: { debug: noop, info: noop, warn: noop, error: noop }, timeoutMs: 2000, env: {} };
const PHONE = '+46700000001';

function sendInput(over: Partial<ProviderSendInput> = {}): ProviderSendInput {
  return { requestId: 'req-1', phone: PHONE, channel: 'sms', code: '000000', text: 'unused', signal: new AbortController().signal, ...over };
}
function checkInput(code: string, over: Partial<ProviderCheckInput> = {}): ProviderCheckInput {
  return { requestId: 'req-1', phone: PHONE, channel: 'sms', code, signal: new AbortController().signal, ...over };
}


/** A port nothing listens on: bind one, then close it. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('Sinch provider', { timeout: 20_000 }, () => {
  let fake: SinchFake;
  let provider: OtpProvider;
  const options = (): SinchOptions => ({ applicationKey: fake.applicationKey, applicationSecret: fake.applicationSecret, baseUrl: fake.url });

  before(async () => {
    fake = await startSinchFake();
    provider = sinchProvider(options(), ctx);
  });
  after(async () => {
    await fake.close();
  });
  beforeEach(() => {
    fake.reset();
  });
  afterEach(() => {
    // Every request the SDK sent matched the documented protocol (path, headers, signature, body).
    assert.deepEqual(fake.problems, []);
  });

  it('describes itself as a code-owning SMS and call provider', () => {
    assert.equal(provider.name, 'Sinch');
    assert.deepEqual(provider.channels, ['sms', 'call']);
    assert.equal(provider.ownsCode, true);
    assert.equal(typeof provider.check, 'function');
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

    it('throws bad-response for a report without a status', async () => {
      fake.enqueue('report', { type: 'json', body: { id: 'x', method: 'sms' } });
      const error = await expectProviderError(() => provider.check!(checkInput('1234')));
      assert.equal(error.kind, 'bad-response');
    });

    it('throws a classified ProviderError for other report errors', async () => {
      fake.enqueue('report', { type: 'error', httpStatus: 429, errorCode: 42901, message: 'Too many requests' });
      const error = await expectProviderError(() => provider.check!(checkInput('1234')));
      assert.equal(error.kind, 'rejected');
      assert.equal(error.retryable, true);
      assert.equal(error.providerCode, '42901');
      assert.equal(error.httpStatus, 429);
    });
  });

  describe('errors', () => {
    const table: [httpStatus: number, errorCode: number, retryable: boolean, meaning: string][] = [
      [401, 40100, false, 'auth'],
      [402, 40200, false, 'no credit'],
      [403, 40300, false, 'blacklisted'],
      [400, 40001, false, 'parameter validation'],
      [422, 42201, false, 'no route'],
      [429, 42900, true, 'capacity'],
      [429, 42901, true, 'same number too quickly'],
      [500, 50000, true, 'server'],
      [503, 50300, true, 'server'],
    ];
    for (const [httpStatus, errorCode, retryable, meaning] of table) {
      it(`${errorCode} (${meaning}) is ${retryable ? 'retryable' : 'permanent'}`, async () => {
        fake.enqueue('start', { type: 'error', httpStatus, errorCode, message: meaning });
        const direct = await expectProviderError(() => provider.send(sendInput()));
        assert.equal(direct.provider, 'Sinch');
        assert.equal(direct.kind, 'rejected');
        assert.equal(direct.retryable, retryable);
        assert.equal(direct.providerCode, String(errorCode));
        assert.equal(direct.httpStatus, httpStatus);
        assert.equal(direct.message, meaning);
        // The kit's classification keeps the verdict.
        fake.enqueue('start', { type: 'error', httpStatus, errorCode, message: meaning });
        const viaKit = await expectProviderError(() => callProvider('Sinch', 2000, (signal) => provider.send(sendInput({ signal }))));
        assert.equal(viaKit.retryable, retryable);
        assert.equal(viaKit.providerCode, String(errorCode));
        assert.equal(viaKit.httpStatus, httpStatus);
      });
    }

    it('a wrong application secret fails the real signature check: 40100, permanent', async () => {
      const p = sinchProvider({ ...options(), applicationSecret: Buffer.from('another secret').toString('base64') }, ctx);
      const error = await expectProviderError(() => p.send(sendInput()));
      assert.equal(error.kind, 'rejected');
      assert.equal(error.providerCode, '40100');
      assert.equal(error.httpStatus, 401);
      assert.equal(error.retryable, false);
      assert.equal(fake.requests[0]!.authOk, false);
      fake.problems.length = 0;
    });

    it('keeps the phone number out of error messages', async () => {
      fake.enqueue('report', { type: 'error', httpStatus: 503, errorCode: 50300, message: 'Service unavailable' });
      const error = await expectProviderError(() => provider.check!(checkInput('1234')));
      assert.doesNotMatch(error.summary(), /46700000001/);
    });
  });

  describe('garbage answers', () => {
    const cases: [string, SinchFakeBehaviour, { retryable: boolean; httpStatus: number | undefined }][] = [
      ['HTML 200', { type: 'raw', httpStatus: 200, body: '<html><body>Welcome</body></html>' }, { retryable: true, httpStatus: 200 }],
      ['empty 200', { type: 'raw', httpStatus: 200, body: '', contentType: 'application/json' }, { retryable: true, httpStatus: undefined }],
      ['JSON 200 without id', { type: 'json', body: { method: 'sms' } }, { retryable: true, httpStatus: undefined }],
      ['HTML 502', { type: 'raw', httpStatus: 502, body: '<html><h1>502 Bad Gateway</h1></html>' }, { retryable: true, httpStatus: 502 }],
      ['HTML 404', { type: 'raw', httpStatus: 404, body: '<html>Not Found</html>' }, { retryable: false, httpStatus: 404 }],
      ['truncated JSON 200', { type: 'raw', httpStatus: 200, body: '{"id":"abc', contentType: 'application/json' }, { retryable: true, httpStatus: 200 }],
    ];
    for (const [label, behaviour, expected] of cases) {
      it(`${label} is a bad-response ProviderError, never a success`, async () => {
        fake.enqueue('start', behaviour);
        const error = await expectProviderError(() => provider.send(sendInput()));
        assert.equal(error.kind, 'bad-response');
        assert.equal(error.retryable, expected.retryable);
        assert.equal(error.httpStatus, expected.httpStatus);
      });
    }

    it('a dropped connection is a retryable network failure', async () => {
      fake.enqueue('start', { type: 'destroy' });
      const error = await expectProviderError(() => provider.send(sendInput()));
      assert.equal(error.kind, 'network');
      assert.equal(error.retryable, true);
    });

    it('connection refused is a retryable network failure', async () => {
      const port = await closedPort();
      const p = sinchProvider({ ...options(), baseUrl: `http://127.0.0.1:${port}` }, ctx);
      const error = await expectProviderError(() => callProvider('Sinch', 2000, (signal) => p.send(sendInput({ signal }))));
      assert.equal(error.kind, 'network');
      assert.equal(error.retryable, true);
      assert.equal(error.providerCode, 'ECONNREFUSED');
    });
  });

  describe('timeouts', () => {
    it('a hanging Sinch is a timeout well under 2 s', async () => {
      fake.enqueue('start', { type: 'hang' });
      const started = Date.now();
      const error = await expectProviderError(() => callProvider('Sinch', 300, (signal) => provider.send(sendInput({ signal }))));
      const elapsed = Date.now() - started;
      assert.equal(error.kind, 'timeout');
      assert.equal(error.retryable, true);
      assert.ok(elapsed < 1000, `took ${elapsed} ms`);
    });

    it('an abandoned call that fails later does not become an unhandled rejection', async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => {
        unhandled.push(reason);
      };
      process.on('unhandledRejection', onUnhandled);
      try {
        fake.set({ delayMs: 400, start: { type: 'error', httpStatus: 503, errorCode: 50300 } });
        const error = await expectProviderError(() => callProvider('Sinch', 100, (signal) => provider.send(sendInput({ signal }))));
        assert.equal(error.kind, 'timeout');
        await sleep(600); // the SDK call now fails with 50300, after the race
        assert.equal(fake.requests.length, 1);
        assert.deepEqual(unhandled, []);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });

    it('honours the signal by itself and does not call Sinch when it is already aborted', async () => {
      const controller = new AbortController();
      controller.abort(new Error('deadline'));
      await assert.rejects(provider.send(sendInput({ signal: controller.signal })), { name: 'AbortError' });
      assert.equal(fake.requests.length, 0);
    });
  });

  describe('options', () => {
    const valid = { applicationKey: 'key', applicationSecret: Buffer.from('secret bytes').toString('base64') };
    it('the schema accepts a base64 secret and an http(s) base URL', () => {
      assert.equal(sinchOptionsSchema.validate({ ...valid, baseUrl: 'http://127.0.0.1:4020' }, { convert: false }).error, undefined);
    });
    it('the schema rejects a secret that is not base64', () => {
      const { error } = sinchOptionsSchema.validate({ ...valid, applicationSecret: 'not base64!' }, { convert: false });
      assert.ok(error);
      assert.deepEqual(error.details[0]?.path, ['applicationSecret']);
    });
    it('the factory refuses a secret that is not base64', () => {
      assert.throws(() => sinchProvider({ ...valid, applicationSecret: 'not base64!' }, ctx), (e: unknown) => e instanceof Error && /applicationSecret/.test(e.message));
    });
    it('reads SINCH_* environment variables', () => {
      assert.deepEqual(sinchOptionsFromEnv({ SINCH_APPLICATION_KEY: 'k', SINCH_APPLICATION_SECRET: 'czM=', SINCH_BASE_URL: 'http://127.0.0.1:1/' }), {
        applicationKey: 'k',
        applicationSecret: 'czM=',
        baseUrl: 'http://127.0.0.1:1/',
      });
      assert.deepEqual(sinchOptionsFromEnv({}), {});
    });
  });
});
