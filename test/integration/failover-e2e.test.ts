/**
 * Issue 3 end to end: failover through the example app. A provider that times out, answers
 * garbage (HTML, broken XML, an empty body) or fails hands the request to the next provider of the
 * chain; verification then goes to the provider that delivered (sticky), asserted on what each
 * fake received. With no provider left (and retry off) the answer is 503 PROVIDER_UNAVAILABLE.
 */
import assert from 'node:assert/strict';
import { afterEach, before, beforeEach, it } from 'node:test';
import { migrateOtpTables } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import {
  errorOf,
  eventually,
  fakeEnv,
  latestRequestOf,
  phone,
  send,
  sendAccepted,
  startKit,
  storedRequest,
  verify,
  verifyAndDelete,
  wrongCode,
  type ProviderName,
  useFakes,
} from './harness.js';

const fakes = useFakes();

/** Small enough to keep the suite fast, large enough for a loaded 2-core CI machine. */
const TIMEOUT_MS = 300;

/** Makes `provider`'s send endpoint never answer. */
function hang(provider: ProviderName): void {
  if (provider === 'Twilio') fakes().twilio.setBehaviour({ type: 'hang' }, 'send');
  else if (provider === 'Sinch') fakes().sinch.set({ start: { type: 'hang' } });
  else fakes().mada.setReplies([], { hang: true });
}

type Garbage = 'html' | 'broken' | 'empty';
const GARBAGE: Readonly<Record<Garbage, string>> = {
  html: '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>',
  broken: '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><SubmitSMResponse><smResponse><commandStatus>0',
  empty: '',
};

/** Makes `provider`'s send endpoint answer HTTP 200 with `kind` garbage instead of its format. */
function garbage(provider: ProviderName, kind: Garbage): void {
  const body = provider === 'Mada' || kind !== 'broken' ? GARBAGE[kind] : '{"sid": "VE123", "status": "pend';
  const contentType = kind === 'html' ? 'text/html' : provider === 'Mada' ? 'text/xml; charset=utf-8' : 'application/json';
  if (provider === 'Twilio') fakes().twilio.setBehaviour({ type: 'raw', status: 200, body, contentType }, 'send');
  else if (provider === 'Sinch') fakes().sinch.set({ start: { type: 'raw', httpStatus: 200, body, contentType } });
  else fakes().mada.setReplies([], { raw: body, contentType });
}

/** Makes `provider`'s send endpoint fail with a documented, retryable server error. */
function down(provider: ProviderName): void {
  if (provider === 'Twilio') fakes().twilio.setBehaviour({ type: 'error', status: 503, code: 20503, message: 'Service unavailable' }, 'send');
  else if (provider === 'Sinch') fakes().sinch.set({ start: { type: 'error', httpStatus: 503, errorCode: 50300, message: 'Service unavailable' } });
  else fakes().mada.setReplies([], 8); // RSYSERR
}

/** Undoes `hang`, `garbage` and `down`. */
function heal(provider: ProviderName): void {
  if (provider === 'Twilio') fakes().twilio.setBehaviour({ type: 'ok' });
  else if (provider === 'Sinch') fakes().sinch.set({ start: { type: 'logic' }, report: { type: 'logic' } });
  else fakes().mada.setReplies([], 0);
}

/** A number each provider serves under the routing strings below. */
function numberFor(provider: ProviderName): string {
  return provider === 'Mada' ? phone('+35987') : phone('+35989');
}

/** A two-provider chain: `first` then `second`, with Mada routed by prefix when it is first. */
function chain(first: ProviderName, second: ProviderName): string {
  return first === 'Mada' ? `Mada:+35987;${second}` : `${first};${second}`;
}

const PAIRS: readonly (readonly [ProviderName, ProviderName])[] = [
  ['Twilio', 'Sinch'],
  ['Sinch', 'Twilio'],
  ['Mada', 'Twilio'],
];

forEachDatabase('failover end to end through the example app', (get) => {
  before(async () => {
    await migrateOtpTables(get().knex);
  });
  beforeEach(() => fakes().reset());
  afterEach(() => fakes().assertNoProtocolProblems());

  /** Sends through `first;second` with `first` broken, and checks `second` delivered and verifies alone. */
  async function failsOver(first: ProviderName, second: ProviderName, options: { providerTimeoutMs?: number } = {}): Promise<{ elapsed: number; lastError: string }> {
    const { app } = startKit(get().knex, fakeEnv(fakes(), chain(first, second)), options);
    const to = numberFor(first);
    const started = Date.now();
    const requestId = await sendAccepted(app, 'sms', to);
    const elapsed = Date.now() - started;
    assert.equal(fakes().sendsTo(first, to), 1, `${first} was tried first`);
    assert.equal(fakes().sendsTo(second, to), 1, `${second} delivered`);
    const row = await storedRequest(get().knex, requestId);
    assert.equal(row.chain, `${first},${second}`);
    assert.equal(row.provider, second);
    assert.equal(row.status, 'sent');
    assert.ok(row.lastError?.includes(first), `the first provider's failure is recorded: ${String(row.lastError)}`);

    const code = fakes().codeFor(second, to);
    await verifyAndDelete(app, to, code);
    if (second !== 'Mada') assert.deepEqual(fakes().checksOf(second, to).map((c) => c.code), [code], `${second} checked the code`);
    if (first !== 'Mada') assert.deepEqual(fakes().checksOf(first, to), [], `${first} was never asked to check`);
    if (first === 'Mada') assert.equal(fakes().mada.requests.length, 1, 'Mada got nothing after its failed send');
    return { elapsed, lastError: row.lastError ?? '' };
  }

  for (const [first, second] of PAIRS) {
    it(`${first} timing out (providerTimeoutMs ${TIMEOUT_MS}) fails over to ${second} in time`, async () => {
      hang(first);
      const { elapsed, lastError } = await failsOver(first, second, { providerTimeoutMs: TIMEOUT_MS });
      assert.ok(elapsed >= TIMEOUT_MS - 20, `waited for the timeout (${elapsed} ms)`);
      assert.ok(elapsed < TIMEOUT_MS + 2500, `did not wait much longer than the timeout (${elapsed} ms)`);
      assert.match(lastError, new RegExp(`${first}.*timeout`));
    });
  }

  it('a Twilio call that times out closes the socket (the deadline really aborts the request)', async () => {
    hang('Twilio');
    const { app } = startKit(get().knex, fakeEnv(fakes(), 'Twilio;Sinch'), { providerTimeoutMs: TIMEOUT_MS });
    const to = phone('+35989');
    await sendAccepted(app, 'call', to);
    assert.equal(fakes().sendsTo('Sinch', to), 1);
    await eventually(() => fakes().twilio.requests[0]?.aborted === true, 'the Twilio fake sees the client hang up');
  });

  for (const provider of ['Twilio', 'Sinch', 'Mada'] as const) {
    it(`${provider} timing out with no other provider answers 503 PROVIDER_UNAVAILABLE and records a timeout`, async () => {
      hang(provider);
      const { app } = startKit(get().knex, fakeEnv(fakes(), provider), { providerTimeoutMs: TIMEOUT_MS });
      const to = numberFor(provider);
      const res = await send(app, 'sms', to);
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(errorOf(res).code, 'PROVIDER_UNAVAILABLE');
      const row = await latestRequestOf(get().knex, to);
      assert.equal(row.status, 'failed');
      assert.equal(row.provider, null);
      assert.match(row.lastError ?? '', new RegExp(`${provider}.*timeout`));
    });
  }

  for (const [first, second] of PAIRS) {
    for (const kind of ['html', 'broken', 'empty'] as const) {
      it(`${first} answering ${kind === 'broken' ? `broken ${first === 'Mada' ? 'XML' : 'JSON'}` : kind === 'html' ? 'an HTML page' : 'an empty body'} fails over to ${second}`, async () => {
        garbage(first, kind);
        const { lastError } = await failsOver(first, second);
        assert.match(lastError, new RegExp(`${first}.*bad-response`));
      });
    }
  }

  for (const provider of ['Twilio', 'Sinch', 'Mada'] as const) {
    for (const kind of ['html', 'broken', 'empty'] as const) {
      it(`${provider} answering ${kind} garbage with no other provider answers 503 PROVIDER_UNAVAILABLE (retry off)`, async () => {
        garbage(provider, kind);
        const { app } = startKit(get().knex, fakeEnv(fakes(), provider));
        const to = numberFor(provider);
        const res = await send(app, 'sms', to);
        assert.equal(res.status, 503, JSON.stringify(res.body));
        assert.deepEqual(errorOf(res), { code: 'PROVIDER_UNAVAILABLE', message: 'The code could not be delivered; try again later.' });
        assert.equal(fakes().sendsTo(provider, to), 1, 'one attempt, no retry');
        const row = await latestRequestOf(get().knex, to);
        assert.equal(row.status, 'failed');
        assert.match(row.lastError ?? '', new RegExp(`${provider}.*bad-response`));
        // Nothing was delivered, so nothing verifies.
        const res2 = await verify(app, to, '123456');
        assert.equal(res2.status, 422);
        assert.equal(errorOf(res2).code, 'OTP_NOT_FOUND');
      });
    }
  }

  for (const [first, second] of PAIRS) {
    it(`${first} failing (5xx / RSYSERR) fails over to ${second}; verification stays with ${second} after ${first} recovers`, async () => {
      down(first);
      const { app } = startKit(get().knex, fakeEnv(fakes(), chain(first, second)));
      const to = numberFor(first);
      const requestId = await sendAccepted(app, 'sms', to);
      assert.equal((await storedRequest(get().knex, requestId)).provider, second);
      const code = fakes().codeFor(second, to);

      // The first provider is healthy again: verification must still go to the one that delivered.
      heal(first);
      const wrong = await verify(app, to, wrongCode(code));
      assert.equal(errorOf(wrong).code, 'OTP_INVALID');
      await verifyAndDelete(app, to, code);
      if (second !== 'Mada') assert.deepEqual(fakes().checksOf(second, to).map((c) => c.code), [wrongCode(code), code]);
      if (first !== 'Mada') assert.deepEqual(fakes().checksOf(first, to), []);
      assert.equal(fakes().sendsTo(first, to), 1, `${first} saw only the failed send`);
    });
  }

  it('Twilio;Sinch with Twilio failing: Sinch delivers, /otp/verify calls Sinch and never Twilio (sms and call)', async () => {
    down('Twilio');
    const { app } = startKit(get().knex, fakeEnv(fakes(), 'Twilio;Sinch'));
    for (const channel of ['sms', 'call'] as const) {
      const to = phone('+4670');
      const requestId = await sendAccepted(app, channel, to);
      assert.equal((await storedRequest(get().knex, requestId)).provider, 'Sinch');
      const code = fakes().codeFor('Sinch', to);
      const wrong = await verify(app, to, wrongCode(code));
      assert.equal(errorOf(wrong).code, 'OTP_INVALID');
      await verifyAndDelete(app, to, code);
      const method = channel === 'sms' ? 'sms' : 'callout';
      assert.deepEqual(fakes().checksOf('Sinch', to), [
        { code: wrongCode(code), method },
        { code, method },
      ]);
      assert.deepEqual(fakes().checksOf('Twilio', to), []);
      assert.equal(fakes().sendsTo('Twilio', to), 1);
      assert.deepEqual(fakes().twilio.requests.filter((r) => r.op === 'check'), []);
    }
  });

  it('a permanent refusal (Twilio 60200) also moves on to the next provider', async () => {
    fakes().twilio.setBehaviour({ type: 'error', status: 400, code: 60200, message: 'Invalid parameter: To' }, 'send');
    const requestId = await sendAccepted(startKit(get().knex, fakeEnv(fakes(), 'Twilio;Sinch')).app, 'sms', phone('+35989'));
    const row = await storedRequest(get().knex, requestId);
    assert.equal(row.provider, 'Sinch');
    assert.match(row.lastError ?? '', /Twilio\[60200\] rejected/);
  });

  it('every provider failing answers 503 and lists each failure in last_error', async () => {
    down('Twilio');
    down('Sinch');
    const { app } = startKit(get().knex, fakeEnv(fakes(), 'Twilio;Sinch'));
    const to = phone('+35989');
    const res = await send(app, 'sms', to);
    assert.equal(res.status, 503);
    assert.equal(errorOf(res).code, 'PROVIDER_UNAVAILABLE');
    const row = await latestRequestOf(get().knex, to);
    assert.equal(row.status, 'failed');
    assert.match(row.lastError ?? '', /Twilio\[20503\].*Sinch\[50300\]/s);
  });

  it('a check that times out answers 503 and the same code still verifies once the provider answers', async () => {
    const { app } = startKit(get().knex, fakeEnv(fakes(), 'Twilio'), { providerTimeoutMs: TIMEOUT_MS });
    const to = phone('+35989');
    await sendAccepted(app, 'sms', to);
    const code = fakes().codeFor('Twilio', to);
    fakes().twilio.queueBehaviour({ type: 'hang' }, 'check');
    const res = await verify(app, to, code);
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(errorOf(res).code, 'PROVIDER_UNAVAILABLE');
    await verifyAndDelete(app, to, code);
  });
});
