import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { beforeEach, describe, it } from 'node:test';
import { madaProvider } from '../../lib/providers/mada.js';
import { expectProviderError } from '../helpers/providers.js';
import { assertNoSecrets, CODE, context, input, PHONE, recordingLogger, useMadaFake } from './helpers/mada.js';
import { callProvider } from '../../lib/providers/timeout.js';
import { type MadaFake } from '../helpers/fakes/mada-fake.js';

describe('Mada provider', { timeout: 20_000 }, () => {
  const madaFake = useMadaFake();
  let fake: MadaFake;
  beforeEach(() => {
    fake = madaFake();
  });

  it('is an SMS-only provider that does not own the code', () => {
    const provider = madaProvider(fake.providerOptions, context());
    assert.equal(provider.name, 'Mada');
    assert.deepEqual(provider.channels, ['sms']);
    assert.ok(!provider.channels.includes('call'));
    assert.equal(provider.ownsCode, false);
    assert.equal(Object.hasOwn(provider, 'check'), false);
  });

  it('sends a SubmitSM the gateway accepts and returns the messageId', async () => {
    const provider = madaProvider(fake.providerOptions, context());
    const result = await provider.send(input());
    assert.equal(fake.requests.length, 1);
    const req = fake.requests[0]!;
    assert.deepEqual(req.problems, []);
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/SoS/SubmitSM');
    assert.equal(req.authorized, true);
    assert.equal(req.headers.authorization, `Basic ${Buffer.from('mada-user:p@ss<&>"word').toString('base64')}`);
    // Exactly what hitrix sends (no charset parameter); the body is UTF-8 all the same.
    assert.equal(req.headers['content-type'], 'text/xml');
    assert.equal(req.headers.soapaction, undefined);
    assert.deepEqual(req.source, { ton: '5', npi: '1', addr: 'MyBrand' });
    assert.deepEqual(req.destination, { ton: '1', npi: '1', addr: '359871234567' });
    assert.equal(req.text, 'Your code is 48213');
    assert.equal(req.registeredDelivery, '1');
    assert.ok(!req.rawBody.startsWith('<?xml'), 'no XML declaration, as hitrix');
    assert.ok(req.rawBody.includes('<sos:SubmitSM soapenv:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><smRequest>'));
    assert.equal(result.ref, req.messageId);
    assert.deepEqual(result.request, { destination: '359871234567', sourceName: 'MyBrand' });
    assert.deepEqual(result.response, { commandStatus: '0', messageId: req.messageId, statusDescription: 'success' });
    assert.ok(!JSON.stringify(result).includes(CODE), 'the result carries neither the text nor the code');
    assert.ok(!JSON.stringify(result).includes('p@ss'), 'the result carries no password');
    assert.equal(fake.lastCodeTo(PHONE), CODE);
  });

  it('XML-escapes the text and the sender name', async () => {
    const provider = madaProvider({ ...fake.providerOptions, sourceName: `A&B<"'>` }, context());
    const text = `Code <${CODE}> & "more" 'text' </stringData><x>`;
    await provider.send(input({ text }));
    const req = fake.requests[0]!;
    assert.deepEqual(req.problems, []);
    assert.equal(req.text, text);
    assert.equal(req.source?.addr, `A&B<"'>`);
    assert.ok(req.rawBody.includes('<stringData>Code &lt;48213&gt; &amp; &quot;more&quot; &apos;text&apos; &lt;/stringData&gt;&lt;x&gt;</stringData>'));
    assert.ok(req.rawBody.includes('<addr>A&amp;B&lt;&quot;&apos;&gt;</addr>'));
  });

  describe('non-zero commandStatus', () => {
    const cases = [
      { status: 8, retryable: true, name: /RSYSERR/ },
      { status: 20, retryable: true, name: /RMSGQFUL/ },
      { status: 88, retryable: true, name: /RTHROTTLED/ },
      { status: 11, retryable: false, name: /RINVDSTADR/ },
      { status: 14, retryable: false, name: /RINVPASWD/ },
      { status: 1035, retryable: false, name: /insufficient credits/ },
    ];
    for (const c of cases) {
      it(`commandStatus ${c.status} is ${c.retryable ? 'retryable' : 'permanent'}`, async () => {
        fake.setReplies([{ commandStatus: c.status, statusDescription: `gateway said ${c.status}` }]);
        const provider = madaProvider(fake.providerOptions, context());
        const error = await expectProviderError(provider.send(input()));
        assert.equal(error.provider, 'Mada');
        assert.equal(error.kind, 'rejected');
        assert.equal(error.retryable, c.retryable);
        assert.equal(error.providerCode, String(c.status));
        assert.equal(error.httpStatus, 200);
        assert.match(error.message, new RegExp(`^Mada\\[${c.status}\\]: `));
        assert.match(error.message, c.name);
        assertNoSecrets(error, fake.providerOptions);
      });
    }

    it('uses statusDescription for statuses without an SMPP name, without echoing the code', async () => {
      fake.setReplies([{ commandStatus: 4242, statusDescription: `custom refusal of "Your code is ${CODE}"` }]);
      const provider = madaProvider(fake.providerOptions, context());
      const error = await expectProviderError(provider.send(input()));
      assert.equal(error.kind, 'rejected');
      assert.equal(error.retryable, false);
      assert.equal(error.providerCode, '4242');
      assert.match(error.message, /^Mada\[4242\]: custom refusal of/);
      assertNoSecrets(error, fake.providerOptions);
    });

    it('serves a queue: fails twice, then accepts', async () => {
      fake.setReplies([88, 8]);
      const provider = madaProvider(fake.providerOptions, context());
      await expectProviderError(provider.send(input()));
      await expectProviderError(provider.send(input()));
      const ok = await provider.send(input());
      assert.equal(ok.ref, fake.requests[2]!.messageId);
      assert.deepEqual(fake.requests.map((r) => r.commandStatus), ['88', '8', '0']);
      assert.deepEqual(fake.messagesTo(PHONE), [`Your code is ${CODE}`]);
    });
  });

  it('HTTP 401 (wrong credentials) is a permanent rejection', async () => {
    const provider = madaProvider({ ...fake.providerOptions, password: 'wrong-password' }, context());
    const error = await expectProviderError(provider.send(input()));
    assert.equal(fake.requests[0]!.authorized, false);
    assert.equal(error.kind, 'rejected');
    assert.equal(error.retryable, false);
    assert.equal(error.httpStatus, 401);
    assert.equal(error.providerCode, undefined);
    assert.match(error.message, /MADA_USERNAME/);
    assert.ok(!error.message.includes('wrong-password'));
  });

  it('a hanging gateway under callProvider times out well under 2 s', async () => {
    fake.setReplies([{ hang: true }]);
    const provider = madaProvider(fake.providerOptions, context());
    const started = Date.now();
    const error = await expectProviderError(callProvider('Mada', 300, (signal) => provider.send({ ...input(), signal })));
    const elapsed = Date.now() - started;
    assert.equal(error.kind, 'timeout');
    assert.equal(error.retryable, true);
    assert.ok(elapsed < 2000, `took ${elapsed} ms`);
    assert.equal(fake.requests.length, 1);
  });

  it('an abort without callProvider is still classified as a timeout', async () => {
    fake.setReplies([{ hang: true }]);
    const provider = madaProvider(fake.providerOptions, context());
    const error = await expectProviderError(provider.send(input({ signal: AbortSignal.timeout(200) })));
    assert.equal(error.kind, 'timeout');
    assert.equal(error.retryable, true);
  });

  it('a slow but timely gateway is fine', async () => {
    fake.setReplies([{ commandStatus: 0, delayMs: 100 }]);
    const provider = madaProvider(fake.providerOptions, context());
    const result = await callProvider('Mada', 2000, (signal) => provider.send({ ...input(), signal }));
    assert.equal(result.ref, fake.requests[0]!.messageId);
  });

  it('a wrong path (404 text) is a permanent bad-response', async () => {
    const provider = madaProvider({ ...fake.providerOptions, url: `${fake.url}/nope` }, context());
    const error = await expectProviderError(provider.send(input()));
    assert.equal(error.kind, 'bad-response');
    assert.equal(error.retryable, false);
    assert.equal(error.httpStatus, 404);
  });

  it('accepts commandStatus 0 even on an unusual HTTP status (the gateway accepted it)', async () => {
    fake.setReplies([{ commandStatus: 0, httpStatus: 202 }]);
    const provider = madaProvider(fake.providerOptions, context());
    const result = await provider.send(input());
    assert.equal(result.ref, fake.requests[0]!.messageId);
  });

  it('refuses calls and numbers that are not E.164 without contacting the gateway', async () => {
    const provider = madaProvider(fake.providerOptions, context());
    const call = await expectProviderError(provider.send(input({ channel: 'call' })));
    assert.equal(call.kind, 'rejected');
    assert.equal(call.retryable, false);
    const bad = await expectProviderError(provider.send(input({ phone: '+359 87 123' })));
    assert.equal(bad.kind, 'rejected');
    assert.equal(bad.retryable, false);
    assert.equal(fake.requests.length, 0);
  });

  it('a refused connection is a retryable network failure', async () => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const provider = madaProvider({ ...fake.providerOptions, url: `http://127.0.0.1:${port}/SoS/SubmitSM` }, context());
    const error = await expectProviderError(provider.send(input()));
    assert.equal(error.kind, 'network');
    assert.equal(error.retryable, true);
    assert.equal(error.providerCode, 'ECONNREFUSED');
    assertNoSecrets(error, fake.providerOptions);
  });

  describe('MADA_URL', () => {
    it('without a scheme means http:// and logs exactly one warning at build time', async () => {
      const logger = recordingLogger();
      const provider = madaProvider({ ...fake.providerOptions, url: fake.hostPath }, context(logger));
      assert.equal(logger.entries.length, 1);
      const [entry] = logger.entries;
      assert.equal(entry!.level, 'warn');
      assert.match(entry!.msg ?? '', /no scheme.*http:\/\//);
      assert.ok(!JSON.stringify(entry).includes(fake.password), 'the warning does not carry the password');
      await provider.send(input());
      await provider.send(input());
      assert.equal(logger.entries.length, 1, 'no further warnings per send');
      assert.equal(fake.requests.length, 2);
      assert.deepEqual(fake.requests[0]!.problems, []);
      assert.equal(fake.lastCodeTo(PHONE), CODE);
    });

    it('with a scheme logs nothing', () => {
      const logger = recordingLogger();
      madaProvider(fake.providerOptions, context(logger));
      madaProvider({ ...fake.providerOptions, url: 'https://gateway.example/SoS' }, context(logger));
      assert.equal(logger.entries.length, 0);
    });

    it('that cannot be parsed fails the build naming MADA_URL', () => {
      assert.throws(() => madaProvider({ ...fake.providerOptions, url: 'http://exa mple:99999/x' }, context()), /MADA_URL/);
      assert.throws(() => madaProvider({ ...fake.providerOptions, url: '127.0.0.1:notaport/x' }, context()), /MADA_URL/);
      assert.throws(() => madaProvider({ ...fake.providerOptions, url: 'ftp://gateway.example/x' }, context()), /MADA_URL.*http/);
    });

    it('with credentials in it fails the build without echoing them', () => {
      assert.throws(
        () => madaProvider({ ...fake.providerOptions, url: 'http://user:hunter2@gateway.example/x' }, context()),
        (e: unknown) => e instanceof Error && /MADA_URL/.test(e.message) && !e.message.includes('hunter2'),
      );
    });
  });
});
