/**
 * Twilio provider failures against the loopback Twilio Verify fake, through the real `twilio` SDK:
 * classification by HTTP status first, then Twilio's codes (docs/providers.md, "Answer mapping"),
 * Retry-After, undocumented answers, timeouts and options.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { beforeEach, describe, it } from 'node:test';
import { checkInput, ctx, failure, sendInput, useTwilio } from './helpers/twilio.js';
import { callProvider } from '../../lib/providers/timeout.js';
import { twilioOptionsFromEnv, twilioOptionsSchema, twilioProvider, type TwilioOptions } from '../../lib/providers/twilio.js';
import type { OtpProvider } from '../../lib/types.js';
import { type TwilioFake } from '../helpers/fakes/twilio-fake.js';

describe('Twilio provider failures against a loopback Twilio Verify fake', () => {
  const twilio = useTwilio();
  let fake: TwilioFake;
  let provider: OtpProvider;
  let options: TwilioOptions;
  beforeEach(() => {
    ({ fake, provider, options } = twilio());
  });

  // The send rows of the mapping table in docs/providers.md: HTTP status first, then known codes.
  const errorCases = [
    { name: 'auth failure 20003', status: 401, code: 20003, retryable: false },
    { name: 'invalid parameter 60200', status: 400, code: 60200, retryable: false },
    { name: 'landline 60205', status: 403, code: 60205, retryable: false },
    { name: 'geo permissions 60605', status: 403, code: 60605, retryable: false },
    { name: 'too many requests 20429', status: 429, code: 20429, retryable: true },
    { name: 'too many concurrent requests 60212', status: 429, code: 60212, retryable: true },
    { name: 'a 429 with a code no table knows (60207)', status: 429, code: 60207, retryable: true },
    { name: 'service unavailable 20503', status: 503, code: 20503, retryable: true },
    { name: 'a 500 with a 4xx-looking code', status: 500, code: 60200, retryable: true },
  ] as const;
  for (const c of errorCases) {
    it(`classifies ${c.name} as ${c.retryable ? 'retryable' : 'permanent'}`, async () => {
      fake.setBehaviour({ type: 'error', status: c.status, code: c.code, message: `fake ${c.code}` });
      const e = await failure(provider.send(sendInput()));
      assert.equal(e.kind, 'rejected');
      assert.equal(e.retryable, c.retryable);
      assert.equal(e.providerCode, String(c.code));
      assert.equal(e.httpStatus, c.status);
      assert.equal(e.message, `fake ${c.code}`);
      assert.equal(fake.requests.length, 1, 'the SDK must not retry on its own');
    });
  }

  it('keeps Retry-After of a retryable 429, in seconds or as an HTTP date', async () => {
    fake.queueBehaviour({ type: 'error', status: 429, code: 20429, retryAfter: '7' }, 'send');
    assert.equal((await failure(provider.send(sendInput()))).retryAfterMs, 7000);
    fake.queueBehaviour({ type: 'error', status: 503, code: 20503, retryAfter: new Date(Date.now() + 30_000).toUTCString() }, 'send');
    const dated = await failure(provider.send(sendInput()));
    assert.ok(dated.retryAfterMs !== undefined && dated.retryAfterMs > 25_000 && dated.retryAfterMs <= 30_000, String(dated.retryAfterMs));
    fake.queueBehaviour({ type: 'error', status: 429, code: 20429, retryAfter: 'soon' }, 'send');
    assert.equal((await failure(provider.send(sendInput()))).retryAfterMs, undefined);
  });

  it('fails check errors other than 20404 and 60202 instead of answering', async () => {
    fake.setBehaviour({ type: 'error', status: 429, code: 20429 }, 'check');
    const e = await failure(provider.check!(checkInput('123456')));
    assert.equal(e.providerCode, '20429');
    assert.equal(e.retryable, true);
  });

  it('gets the fake\'s own 20003 when the token is wrong, and 60200 for a bad number', async () => {
    const wrongAuth = twilioProvider({ ...options, authToken: 'not-the-token' }, ctx);
    const e1 = await failure(wrongAuth.send(sendInput()));
    assert.deepEqual([e1.providerCode, e1.httpStatus, e1.retryable], ['20003', 401, false]);
    const e2 = await failure(provider.send(sendInput({ phone: '0871234567' })));
    assert.deepEqual([e2.providerCode, e2.httpStatus, e2.retryable], ['60200', 400, false]);
  });

  it('turns a hanging provider into a timeout within the deadline and drops the connection', async () => {
    fake.setBehaviour({ type: 'hang' });
    const started = Date.now();
    const e = await failure(callProvider('Twilio', 300, (signal) => provider.send(sendInput({ signal }))));
    const elapsed = Date.now() - started;
    assert.equal(e.kind, 'timeout');
    assert.equal(e.retryable, true);
    assert.ok(elapsed < 1000, `took ${elapsed} ms`);
    // The abort signal reaches axios, so the socket is closed rather than left to the SDK timeout.
    const deadline = Date.now() + 1000;
    while (!fake.requests[0]!.aborted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(fake.requests[0]!.aborted, true);
  });

  it('times out on its own (RequestClient timeout) when no deadline aborts it', async () => {
    fake.setBehaviour({ type: 'ok', delayMs: 1000 });
    const quick = twilioProvider(options, { ...ctx, timeoutMs: 200 });
    const started = Date.now();
    const e = await failure(quick.send(sendInput()));
    assert.equal(e.kind, 'timeout');
    assert.equal(e.retryable, true);
    assert.ok(Date.now() - started < 900);
  });

  it('succeeds when the answer is slow but within the deadline', async () => {
    fake.setBehaviour({ type: 'ok', delayMs: 100 });
    const result = await callProvider('Twilio', 1000, (signal) => provider.send(sendInput({ signal })));
    assert.match(result.ref ?? '', /^VE/);
  });

  const garbage = [
    { name: 'an HTML page with 200', status: 200, body: '<html><body>Welcome</body></html>', contentType: 'text/html', retryable: true },
    { name: 'an empty body with 200', status: 200, body: '', contentType: 'application/json', retryable: true },
    { name: 'JSON that is not an object with 200', status: 200, body: '"ok"', contentType: 'application/json', retryable: true },
    { name: 'an HTML 502 from a proxy', status: 502, body: '<html><h1>502 Bad Gateway</h1></html>', contentType: 'text/html', retryable: true },
    { name: 'an HTML 403 from a firewall', status: 403, body: '<html>Forbidden</html>', contentType: 'text/html', retryable: false },
  ] as const;
  for (const g of garbage) {
    it(`fails a send answered with ${g.name} as bad-response (retryable: ${g.retryable})`, async () => {
      fake.setBehaviour({ type: 'raw', status: g.status, body: g.body, contentType: g.contentType });
      const e = await failure(provider.send(sendInput()));
      assert.equal(e.kind, 'bad-response');
      assert.equal(e.retryable, g.retryable);
      assert.equal(e.httpStatus, g.status);
    });
  }

  it('fails a 201 JSON object without a sid as bad-response, never a success', async () => {
    fake.setBehaviour({ type: 'raw', status: 201, body: '{"status":"pending"}', contentType: 'application/json' });
    const e = await failure(provider.send(sendInput()));
    assert.equal(e.kind, 'bad-response');
  });

  it('fails a check answered with garbage as bad-response, never approved', async () => {
    fake.setBehaviour({ type: 'raw', status: 200, body: '<html>hi</html>' }, 'check');
    assert.equal((await failure(provider.check!(checkInput('123456')))).kind, 'bad-response');
    fake.setBehaviour({ type: 'raw', status: 200, body: '{"sid":"VE1","status":"approved","valid":false}', contentType: 'application/json' }, 'check');
    assert.equal((await failure(provider.check!(checkInput('123456')))).kind, 'bad-response');
  });

  it('a 404 without Twilio\'s JSON is a bad response, not "gone"', async () => {
    fake.setBehaviour({ type: 'raw', status: 404, body: 'Not Found', contentType: 'text/plain' }, 'check');
    const e = await failure(provider.check!(checkInput('123456')));
    assert.equal(e.kind, 'bad-response');
    assert.equal(e.retryable, false);
  });

  it('answers one-shot behaviours first, then the standing one', async () => {
    fake.queueBehaviour({ type: 'error', status: 503, code: 20503 }, 'send');
    const e = await failure(provider.send(sendInput()));
    assert.equal(e.retryable, true);
    assert.equal(e.providerCode, '20503');
    const ok = await provider.send(sendInput());
    assert.match(ok.ref ?? '', /^VE/);
  });
});

describe('Twilio provider without a reachable server', () => {
  it('reports a refused connection as a retryable network failure', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const provider = twilioProvider(
      { accountSid: `AC${'0'.repeat(32)}`, authToken: 'token-123456', verifyServiceSid: `VA${'0'.repeat(32)}`, baseUrl: `http://127.0.0.1:${port}` },
      ctx,
    );
    const e = await failure(provider.send(sendInput()));
    assert.equal(e.kind, 'network');
    assert.equal(e.retryable, true);
    assert.equal(e.providerCode, 'ECONNREFUSED');
    // No credentials travel in the error (axios errors carry the request config).
    assert.equal(e.cause instanceof Error ? JSON.stringify(Object.entries(e.cause)).includes('Basic') : false, false);
  });
});

describe('Twilio options', () => {
  const valid = { accountSid: `AC${'0'.repeat(32)}`, authToken: 'token-123456', verifyServiceSid: `VA${'1'.repeat(32)}` };

  it('accepts valid options with and without baseUrl', () => {
    assert.equal(twilioOptionsSchema.validate(valid).error, undefined);
    assert.equal(twilioOptionsSchema.validate({ ...valid, baseUrl: 'http://127.0.0.1:4010' }).error, undefined);
  });

  it('rejects a bad accountSid, service sid or baseUrl', () => {
    assert.match(twilioOptionsSchema.validate({ ...valid, accountSid: 'XX123' }).error?.message ?? '', /accountSid/);
    assert.match(twilioOptionsSchema.validate({ ...valid, accountSid: `AC${'0'.repeat(31)}` }).error?.message ?? '', /accountSid/);
    assert.match(twilioOptionsSchema.validate({ ...valid, verifyServiceSid: 'VA1' }).error?.message ?? '', /verifyServiceSid/);
    assert.match(twilioOptionsSchema.validate({ ...valid, baseUrl: 'ftp://x' }).error?.message ?? '', /baseUrl/);
  });

  it('reads the TWILIO_* environment variables', () => {
    assert.deepEqual(
      twilioOptionsFromEnv({ TWILIO_ACCOUNT_SID: 'AC1', TWILIO_AUTH_TOKEN: 't', TWILIO_VERIFY_SERVICE_SID: 'VA1', TWILIO_BASE_URL: 'http://x', OTHER: 'y' }),
      { accountSid: 'AC1', authToken: 't', verifyServiceSid: 'VA1', baseUrl: 'http://x' },
    );
    assert.deepEqual(twilioOptionsFromEnv({}), {});
  });
});
