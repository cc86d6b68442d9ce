/**
 * Mada provider and the loopback SoS fake on the wire: the fake takes `text/xml` with or without a
 * charset and refuses broken SubmitSMs; undocumented answers are bad-response, classified by HTTP status.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { madaProvider } from '../../lib/providers/mada.js';
import { expectProviderError } from '../helpers/providers.js';
import { assertNoSecrets, CODE, context, input, useMadaFake } from './helpers/mada.js';
import { parseSubmitSm, soapFaultXml, type MadaFake } from '../helpers/fakes/mada-fake.js';

describe('Mada provider on the wire', { timeout: 20_000 }, () => {
  const madaFake = useMadaFake();
  let fake: MadaFake;
  beforeEach(() => {
    fake = madaFake();
  });

  describe('answers that are not a SubmitSMResponse are bad-response', () => {
    const cases: { name: string; raw: string; contentType?: string; httpStatus?: number; retryable: boolean; message: RegExp }[] = [
      { name: 'HTML with 200', raw: '<!DOCTYPE html><html><head><title>Login</title></head><body><p>Please log in<br></body></html>', contentType: 'text/html', retryable: false, message: /HTML/ },
      { name: 'HTML with 502', raw: '<html><body><h1>502 Bad Gateway</h1></body></html>', contentType: 'text/html', httpStatus: 502, retryable: true, message: /HTML/ },
      { name: 'broken XML', raw: '<Envelope><Body><SubmitSMResponse><smResponse><commandStatus>0</commandStatus>', retryable: true, message: /not well-formed XML/ },
      { name: 'an empty body', raw: '', retryable: true, message: /empty answer/ },
      { name: 'a SOAP Server Fault (500)', raw: soapFaultXml('soapenv:Server', 'backend down'), httpStatus: 500, retryable: true, message: /SOAP Fault soapenv:Server: backend down/ },
      { name: 'a SOAP Client Fault (200)', raw: soapFaultXml('soapenv:Client', 'bad request'), retryable: false, message: /SOAP Fault soapenv:Client/ },
      {
        name: 'XML without commandStatus',
        raw: '<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Header/><Body><SubmitSMResponse xmlns="http://www.openmindnetworks.com/SoS"><smResponse><messageId>1</messageId></smResponse></SubmitSMResponse></Body></Envelope>',
        retryable: false,
        message: /no Envelope\/Body\/SubmitSMResponse\/smResponse\/commandStatus/,
      },
      { name: 'a non-numeric commandStatus', raw: '<Envelope><Body><SubmitSMResponse><smResponse><commandStatus>OK</commandStatus></smResponse></SubmitSMResponse></Body></Envelope>', retryable: false, message: /not a decimal number/ },
      { name: 'JSON', raw: '{"status":0}', contentType: 'application/json', retryable: false, message: /not well-formed XML/ },
      { name: 'an empty body with 503', raw: '', httpStatus: 503, retryable: true, message: /empty answer/ },
      { name: 'a redirect (not followed)', raw: 'moved', httpStatus: 301, retryable: false, message: /redirect/ },
      { name: 'an empty body with 400', raw: '', httpStatus: 400, retryable: false, message: /empty answer/ },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        fake.setReplies([{ raw: c.raw, ...(c.contentType === undefined ? {} : { contentType: c.contentType }), ...(c.httpStatus === undefined ? {} : { httpStatus: c.httpStatus }) }]);
        const provider = madaProvider(fake.providerOptions, context());
        const error = await expectProviderError(provider.send(input()));
        assert.equal(error.kind, 'bad-response');
        assert.equal(error.retryable, c.retryable);
        assert.equal(error.httpStatus, c.httpStatus ?? 200);
        assert.match(error.message, c.message);
        assertNoSecrets(error, fake.providerOptions);
      });
    }

    it('a SOAP Fault that echoes the message does not leak it', async () => {
      fake.setReplies([{ raw: soapFaultXml('soapenv:Server', `cannot deliver "Your code is ${CODE}" with p@ss<&>"word`), httpStatus: 500 }]);
      const provider = madaProvider(fake.providerOptions, context());
      const error = await expectProviderError(provider.send(input()));
      assert.equal(error.kind, 'bad-response');
      assertNoSecrets(error, fake.providerOptions);
    });

    it('a dropped connection is a retryable network failure', async () => {
      fake.setReplies([{ destroy: true }]);
      const provider = madaProvider(fake.providerOptions, context());
      const error = await expectProviderError(provider.send(input()));
      assert.equal(error.kind, 'network');
      assert.equal(error.retryable, true);
    });
  });

  it('sends a UTF-8 body, and the fake takes text/xml with or without a charset', async () => {
    const provider = madaProvider(fake.providerOptions, context());
    await provider.send(input({ text: 'Код 48213 ✓' }));
    assert.equal(fake.requests[0]!.text, 'Код 48213 ✓');
    assert.equal(fake.requests[0]!.headers['content-length'], String(Buffer.byteLength(fake.requests[0]!.rawBody, 'utf8')));
    const good = fake.requests[0]!.rawBody;
    const auth = `Basic ${Buffer.from(`${fake.username}:${fake.password}`).toString('base64')}`;
    for (const contentType of ['text/xml', 'text/xml; charset=utf-8', 'text/xml;charset=UTF-8']) {
      const res = await fetch(fake.url, { method: 'POST', headers: { 'Content-Type': contentType, Authorization: auth }, body: good });
      assert.equal(res.status, 200, contentType);
      assert.match(await res.text(), /<commandStatus>0<\/commandStatus>/);
    }
    const wrong = await fetch(fake.url, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: auth }, body: good });
    assert.equal(wrong.status, 415);
  });

  it('the fake refuses a SubmitSM that breaks the protocol', async () => {
    const provider = madaProvider(fake.providerOptions, context());
    await provider.send(input());
    const good = fake.requests[0]!.rawBody;
    assert.deepEqual(parseSubmitSm(good).problems, []);
    const mutations: [string, string, RegExp][] = [
      ['<addr>359871234567</addr>', '<addr>+359871234567</addr>', /destination addr/],
      ['<registeredDelivery>1</registeredDelivery>', '<registeredDelivery>0</registeredDelivery>', /registeredDelivery must be 1/],
      ['<source><ton>5</ton>', '<source><ton>1</ton>', /source ton must be 5/],
      ['<destination><ton>1</ton><npi>1</npi>', '<destination><ton>1</ton><npi>9</npi>', /destination npi must be 1/],
      [' xmlns:sos="http://www.openmindnetworks.com/SoS"', '', /xmlns:sos|SoS namespace/],
      [' soapenv:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"', '', /encodingStyle/],
    ];
    for (const [from, to, problem] of mutations) {
      assert.ok(good.includes(from), from);
      const problems = parseSubmitSm(good.replace(from, to)).problems;
      assert.ok(problems.some((p) => problem.test(p)), `${to}: ${JSON.stringify(problems)}`);
    }
    // Over HTTP, a broken request gets a SOAP Client fault (and consumes no queued reply).
    const raw = await fetch(fake.url, {
      method: 'POST',
      headers: { 'Content-Type': 'text/xml', Authorization: `Basic ${Buffer.from(`${fake.username}:${fake.password}`).toString('base64')}` },
      body: good.replace('<addr>359871234567</addr>', '<addr>+359871234567</addr>'),
    });
    assert.equal(raw.status, 500);
    assert.match(await raw.text(), /faultcode>soapenv:Client</);
  });
});
