/**
 * Issue 23.9: a provider error that quotes the number in any written form (national with its
 * trunk prefix, 00-international, spaced, dashed, dotted, parenthesised) is masked before it is
 * logged, emitted or stored; E.164 and bare digits were already covered.
 */
import assert from 'node:assert/strict';
import { afterEach, before, beforeEach, it } from 'node:test';
import { redactText } from '../../lib/core/redact.js';
import { migrateOtpTables } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { fakeEnv, latestRequestOf, phone, send, startKit, useFakes } from '../integration/harness.js';

/** The subscriber digits of +359 87 123 4567, however they are written: none may survive. */
function assertMasked(text: string, nsn: string, what: string): void {
  const digits = text.replace(/[^0-9]/g, '');
  assert.ok(!digits.includes(nsn), `${what} keeps the national number ${nsn}: ${text}`);
  assert.ok(!digits.includes(nsn.slice(2, -2)), `${what} keeps the subscriber digits of ${nsn}: ${text}`);
}

const WRITTEN_FORMS = (e164: string, nsn: string): string[] => {
  const [a, b, c] = [nsn.slice(0, 2), nsn.slice(2, 5), nsn.slice(5)];
  const cc = e164.slice(1, e164.length - nsn.length);
  return [
    e164,
    e164.slice(1),
    `0${nsn}`,
    `0${a} ${b} ${c}`,
    `0${a}-${b}-${c}`,
    `0${a}.${b}.${c}`,
    `(0${a}) ${b} ${c.slice(0, 2)} ${c.slice(2)}`,
    `(0${a}) ${b}-${c}`,
    `00${cc}${nsn}`,
    `00 ${cc} ${a} ${b} ${c}`,
    `+${cc} ${a} ${b} ${c}`,
    `+${cc}-${a}-${b}-${c}`,
    `+${cc} (0)${a} ${b} ${c}`,
    `+${cc}.${a}.${b}.${c}`,
    `+(${cc}) ${a}${b}${c}`,
    nsn,
    `${a} ${b} ${c}`,
    encodeURIComponent(e164),
  ];
};

it('redactText masks every written form of the number, and leaves other numbers alone', () => {
  const e164 = '+359871234567';
  const nsn = '871234567';
  for (const form of WRITTEN_FORMS(e164, nsn)) {
    const out = redactText(`Invalid destination ${form}: rejected by the gateway (error 21211, retry in 30 s)`, { phone: e164 });
    assertMasked(out, nsn, JSON.stringify(form));
    assert.match(out, /error 21211, retry in 30 s/, `other numbers stay (${form}): ${out}`);
  }
  // A US number: trunk prefix 1, 10-digit national number.
  for (const form of ['(202) 555-0143', '1-202-555-0143', '+1 202.555.0143', '011 1 202 555 0143', '2025550143']) {
    assertMasked(redactText(`bad To ${form}`, { phone: '+12025550143' }), '2025550143', form);
  }
  assert.equal(redactText('HTTP 503 after 15000 ms, code 60200', { phone: e164 }), 'HTTP 503 after 15000 ms, code 60200');
});

const fakes = useFakes();

forEachDatabase('provider errors quoting the number in any form', (get) => {
  before(async () => {
    await migrateOtpTables(get().knex);
  });
  beforeEach(() => fakes().reset());
  afterEach(() => fakes().assertNoProtocolProblems());

  it('last_error, the failed event and every log line hold no written form of the number', async () => {
    const kit = startKit(get().knex, fakeEnv(fakes(), 'Twilio'));
    const to = phone('+35989');
    const nsn = to.slice(4);
    const failed: string[] = [];
    kit.otp.events.on('failed', (e) => failed.push(e.error));
    const forms = WRITTEN_FORMS(to, nsn).slice(2, 15).join(' / ');
    fakes().twilio.queueBehaviour({ type: 'error', status: 400, code: 21211, message: `Invalid 'To' Phone Number: ${forms}` }, 'send');
    const res = await send(kit.app, 'sms', to);
    assert.equal(res.status, 503, JSON.stringify(res.body));
    const row = await latestRequestOf(get().knex, to);
    assert.equal(row.status, 'failed');
    assert.match(row.lastError ?? '', /Twilio\[21211\]/);
    assertMasked(row.lastError ?? '', nsn, 'last_error');
    assert.ok(failed.length > 0, 'the failure was emitted');
    for (const e of failed) assertMasked(e, nsn, 'the failed event');
    assert.ok(kit.logs.some((l) => l.includes('otp provider failed')), 'the failure was logged');
    for (const line of kit.logs) assertMasked(line, nsn, 'a log line');
  });
});

it('status views (safeText) hide grouped and national spellings too', async () => {
  const { safeText } = await import('../../lib/observability/safe-text.js');
  for (const form of ['087 123 4567', '(087) 123-45-67', '087.123.4567', '00 359 87 123 4567', '(202) 555-0143']) {
    const out = safeText(`Mada rejected ${form} (code 9999)`) ?? '';
    assert.ok(!/[0-9]{3}[^0-9a-z]{0,3}[0-9]{2,}/i.test(out.replace('9999', '')), `${form}: ${out}`);
    assert.match(out, /code 9999/);
  }
});
