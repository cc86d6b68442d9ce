/**
 * What the service does with the providers' answers (issue 13), through the real SDKs against the
 * fakes: a number Twilio refuses for a while (60203) answers 429 with Retry-After when no other
 * provider is routed, and a Sinch code of another length and alphabet verifies over HTTP.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startSinchFake, type SinchFake } from '../helpers/fakes/sinch-fake.js';
import { forEachDatabase } from '../helpers/db.js';
import { migrateOtpTables } from '../../lib/index.js';
import { errorOf, fakeEnv, phone, send, sendAccepted, startKit, useFakes, verifyAndDelete } from './harness.js';

const fakes = useFakes();
let alphaSinch: SinchFake | undefined;
before(async () => {
  alphaSinch = await startSinchFake({ codeLength: 8, codeType: 'Alphanumeric' });
});
after(async () => {
  await alphaSinch?.close();
});

forEachDatabase('provider answers as kit results', (get) => {
  before(async () => {
    await migrateOtpTables(get().knex);
  });

  it('Twilio 60203 (max send attempts) with no other provider: 429 RATE_LIMITED with its Retry-After, not a provider failure', async () => {
    fakes().reset();
    fakes().twilio.queueBehaviour({ type: 'error', status: 429, code: 60203, message: 'Max send attempts reached', retryAfter: '120' }, 'send');
    const { app } = startKit(get().knex, fakeEnv(fakes(), 'Twilio'));
    const res = await send(app, 'sms', phone('+35989')).expect(429);
    assert.equal(errorOf(res).code, 'RATE_LIMITED');
    assert.equal(res.headers['retry-after'], '120');
  });

  it('a Sinch code of 8 letters and digits (codeType Alphanumeric) verifies over HTTP, and a kit-shaped check is not forced on it', async () => {
    const sinch = alphaSinch as SinchFake;
    const env = { ...fakeEnv(fakes(), 'Sinch'), SINCH_APPLICATION_KEY: sinch.applicationKey, SINCH_APPLICATION_SECRET: sinch.applicationSecret, SINCH_BASE_URL: sinch.url };
    const { app } = startKit(get().knex, env);
    const to = phone('+35988');
    await sendAccepted(app, 'sms', to);
    const code = sinch.codeFor(to);
    assert.ok(code !== undefined && /^[A-Z0-9]{8}$/.test(code), `an 8-character code, got ${String(code)}`);
    await verifyAndDelete(app, to, code);
  });
});
