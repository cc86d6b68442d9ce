/**
 * Issue 3 end to end: what the kit keeps of provider traffic. The request row's provider_request,
 * provider_response and last_error, and every log line, hold no credential, no code and no full
 * phone number, even when a provider echoes them back in an error (security checklist item 33).
 */
import assert from 'node:assert/strict';
import { afterEach, before, beforeEach, it } from 'node:test';
import { migrateOtpTables } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { soapFaultXml, type MadaFakeRequest } from '../helpers/fakes/mada-fake.js';
import {
  assertRedacted,
  errorOf,
  fakeEnv,
  latestRequestOf,
  phone,
  secretsOf,
  send,
  sendAccepted,
  startKit,
  storedRequest,
  verify,
  verifyAndDelete,
  wrongCode,
  type StoredRequest,
  useFakes,
} from './harness.js';

const fakes = useFakes();

function assertRowRedacted(row: StoredRequest, to: string, code: string | undefined): void {
  const leaks = { secrets: secretsOf(fakes()), phone: to, code };
  assertRedacted(row.providerRequest, 'provider_request', leaks);
  assertRedacted(row.providerResponse, 'provider_response', leaks);
  assertRedacted(row.lastError, 'last_error', leaks);
}

function assertLogsRedacted(logs: readonly string[], to: string, codes: readonly string[]): void {
  for (const line of logs) {
    assertRedacted(line, 'a log line', { secrets: secretsOf(fakes()), phone: to });
    for (const code of codes) assertRedacted(line, 'a log line', { secrets: [], phone: to, code });
  }
}

/** The Mada message text and code of a recorded SubmitSM. */
function madaCode(request: MadaFakeRequest | undefined): string {
  const match = /(\d{6})/.exec(request?.text ?? '');
  assert.ok(match?.[1] !== undefined, 'the SubmitSM carried a 6-digit code');
  return match[1];
}

forEachDatabase('redaction of stored provider traffic and logs', (get) => {
  before(async () => {
    await migrateOtpTables(get().knex);
  });
  beforeEach(() => fakes().reset());
  afterEach(() => fakes().assertNoProtocolProblems());

  it('Twilio: the stored request/response keep the masked number, channel and sid only', async () => {
    // Every delivery keeps its payloads here, so their redaction can be checked (the default keeps only retried ones).
    const kit = startKit(get().knex, fakeEnv(fakes(), 'Twilio'), { retention: { providerPayloads: 'always' } });
    const to = phone('+35989');
    const requestId = await sendAccepted(kit.app, 'sms', to);
    const row = await storedRequest(get().knex, requestId);
    const code = fakes().codeFor('Twilio', to);
    assertRowRedacted(row, to, code);
    assert.deepEqual(JSON.parse(row.providerRequest ?? 'null'), { to: `${to.slice(0, 6)}*****${to.slice(-2)}`, channel: 'sms' });
    const response = JSON.parse(row.providerResponse ?? 'null') as { sid: string; status: string };
    assert.equal(response.sid, fakes().twilio.verifications[0]?.sid);
    assert.equal(response.status, 'pending');
    assert.equal(row.lastError, null);
    await verifyAndDelete(kit.app, to, code);
    assertLogsRedacted(kit.logs, to, [code]);
  });

  it('Sinch: the stored request/response keep method, reference and verification id only', async () => {
    const kit = startKit(get().knex, fakeEnv(fakes(), 'Sinch'), { retention: { providerPayloads: 'always' } });
    const to = phone('+4670');
    const requestId = await sendAccepted(kit.app, 'call', to);
    const row = await storedRequest(get().knex, requestId);
    const code = fakes().codeFor('Sinch', to);
    assertRowRedacted(row, to, code);
    const request = JSON.parse(row.providerRequest ?? 'null') as { method: string; reference: string };
    assert.equal(request.method, 'callout');
    assert.ok(request.reference.startsWith(requestId), 'the reference ties the Sinch verification to the request');
    assert.deepEqual(JSON.parse(row.providerResponse ?? 'null'), { id: fakes().sinch.deliveries[0]?.id, method: 'callout' });
    await verifyAndDelete(kit.app, to, code);
    assertLogsRedacted(kit.logs, to, [code]);
  });

  it('Mada: the stored request holds the masked destination, never the text or the code', async () => {
    const kit = startKit(get().knex, fakeEnv(fakes(), 'Mada'), { retention: { providerPayloads: 'always' } });
    const to = phone('+35987');
    const requestId = await sendAccepted(kit.app, 'sms', to);
    const row = await storedRequest(get().knex, requestId);
    const code = fakes().codeFor('Mada', to);
    assertRowRedacted(row, to, code);
    assert.deepEqual(JSON.parse(row.providerRequest ?? 'null'), { destination: `${to.slice(1, 6)}*****${to.slice(-2)}`, sourceName: 'MyBrand' });
    const response = JSON.parse(row.providerResponse ?? 'null') as { commandStatus: string; messageId: string };
    assert.equal(response.commandStatus, '0');
    assert.equal(response.messageId, fakes().mada.requests[0]?.messageId);
    await verifyAndDelete(kit.app, to, code);
    assertLogsRedacted(kit.logs, to, [code]);
  });

  it('providers echoing the number, the code and credentials in errors: last_error and logs stay clean', async () => {
    const env = fakeEnv(fakes(), 'Mada:+35987;Sinch;Twilio');
    const kit = startKit(get().knex, env);
    const to = phone('+35987');
    // Mada answers a SOAP Fault that quotes the message (with the code), the number and the password.
    fakes().mada.setReplies(
      (r) => ({ raw: soapFaultXml('soapenv:Server', `cannot deliver "${r.text ?? ''}" to ${r.destination?.addr ?? ''} as ${fakes().mada.username}:${fakes().mada.password}`), httpStatus: 500 }),
      0,
    );
    // Sinch answers a documented error whose message quotes the number and the application secret.
    fakes().sinch.set({ start: { type: 'error', httpStatus: 503, errorCode: 50300, message: `overloaded for ${to} (app secret ${fakes().sinch.applicationSecret})` } });
    const requestId = await sendAccepted(kit.app, 'sms', to);
    const row = await storedRequest(get().knex, requestId);
    assert.equal(row.provider, 'Twilio');
    const kitCode = madaCode(fakes().mada.requests[0]);
    assertRowRedacted(row, to, kitCode);
    assert.match(row.lastError ?? '', /Mada.*SOAP Fault.*Sinch\[50300\]/s, 'both failures are recorded');
    assert.ok((row.lastError ?? '').includes(to.slice(0, 6)), 'the number appears masked');
    const code = fakes().codeFor('Twilio', to);
    await verifyAndDelete(kit.app, to, code);
    assertLogsRedacted(kit.logs, to, [kitCode, code]);
    assert.ok(kit.logs.some((l) => l.includes('otp provider failed')), 'the failures were logged');
  });

  it('a failed send (no provider left) stores a clean last_error', async () => {
    const kit = startKit(get().knex, fakeEnv(fakes(), 'Mada'));
    const to = phone('+35988');
    fakes().mada.setReplies((r) => ({ commandStatus: 9999, statusDescription: `rejected "${r.text ?? ''}" for ${r.destination?.addr ?? ''} (${fakes().mada.password})` }));
    const res = await send(kit.app, 'sms', to);
    assert.equal(res.status, 503);
    const row = await latestRequestOf(get().knex, to);
    assert.equal(row.status, 'failed');
    assertRowRedacted(row, to, madaCode(fakes().mada.requests[0]));
    assert.match(row.lastError ?? '', /Mada\[9999\] rejected/);
    assertLogsRedacted(kit.logs, to, [madaCode(fakes().mada.requests[0])]);
  });

  // Fails until otp-service.ts verify() redacts the phone in its "otp provider check failed" log
  // line (it only replaces the code); see the issue 3 report.
  it('a code check that fails with the number in the provider error is logged masked (Twilio 4xx on check)', async () => {
    const kit = startKit(get().knex, fakeEnv(fakes(), 'Twilio'));
    const to = phone('+35989');
    await sendAccepted(kit.app, 'sms', to);
    const code = fakes().codeFor('Twilio', to);
    fakes().twilio.queueBehaviour({ type: 'error', status: 400, code: 60200, message: `Invalid parameter \`To\`: ${to}` }, 'check');
    const res = await verify(kit.app, to, wrongCode(code));
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(errorOf(res).code, 'PROVIDER_UNAVAILABLE');
    assert.ok(kit.logs.some((l) => l.includes('otp provider check failed')), 'the failed check was logged');
    assertLogsRedacted(kit.logs, to, [code, wrongCode(code)]);
  });
});
