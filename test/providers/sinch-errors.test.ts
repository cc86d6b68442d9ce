/**
 * Sinch Verification provider failures against the loopback fake, through the real @sinch/sdk-core
 * over HTTP: the HTTP status decides retryable (429, 5xx), the errorCode is only kept; undocumented
 * answers, network failures, timeouts and options.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { expectProviderError } from '../helpers/providers.js';
import { checkInput, ctx, sendInput, useSinch } from './helpers/sinch.js';
import { sinchOptionsFromEnv, sinchOptionsSchema, sinchProvider, type SinchOptions } from '../../lib/providers/sinch.js';
import { callProvider } from '../../lib/providers/timeout.js';
import type { OtpProvider } from '../../lib/types.js';
import { type SinchFake, type SinchFakeBehaviour } from '../helpers/fakes/sinch-fake.js';



/** A port nothing listens on: bind one, then close it. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('Sinch provider failures', { timeout: 20_000 }, () => {
  const sinch = useSinch();
  let fake: SinchFake;
  let provider: OtpProvider;
  let options: () => SinchOptions;
  beforeEach(() => {
    ({ fake, provider, options } = sinch());
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
      // Codes never decide alone: the HTTP status does.
      [429, 40001, true, 'a 429 with a validation code'],
      [503, 40300, true, 'a 503 with a blocked code'],
      [400, 42900, false, 'a 400 with a capacity code'],
      [429, 42999, true, 'a 429 with a code no page documents'],
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
