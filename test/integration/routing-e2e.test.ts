/**
 * Issue 3 end to end: the routing string `Twilio;Mada:+35987,+35988;Sinch` through the example
 * app, from OTP_SMS_PROVIDER and from the `otp_sms_provider` settings row, including a change of
 * the row taking effect without a restart.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import { afterEach, before, beforeEach, it } from 'node:test';
import { migrateOtpTables, OtpError, ROUTING_SETTING_KEY } from '../../lib/index.js';
import type { Channel } from '../../lib/types.js';
import { forEachDatabase } from '../helpers/db.js';
import {
  fakeEnv,
  phone,
  sendAccepted,
  startKit,
  storedRequest,
  testClock,
  verifyAndDelete,
  type Kit,
  type ProviderName,
  useFakes,
} from './harness.js';

const ROUTING = 'Twilio;Mada:+35987,+35988;Sinch';

const fakes = useFakes();

function twilioDown(): void {
  fakes().twilio.setBehaviour({ type: 'error', status: 500, code: 20500, message: 'Internal Server Error' }, 'send');
}
function madaDown(): void {
  fakes().mada.setReplies([], { raw: '<html><body>503 Service Unavailable</body></html>', contentType: 'text/html', httpStatus: 503 });
}

/** Writes the settings row the way an operator would, with plain SQL through Knex. */
async function writeRow(knex: Knex, value: string): Promise<void> {
  await knex('otp_settings').where({ key: ROUTING_SETTING_KEY }).delete();
  await knex('otp_settings').insert({ key: ROUTING_SETTING_KEY, value });
}

forEachDatabase('routing end to end through the example app', (get) => {
  before(async () => {
    await migrateOtpTables(get().knex);
  });
  beforeEach(async () => {
    fakes().reset();
    await get().knex('otp_settings').where({ key: ROUTING_SETTING_KEY }).delete();
  });
  afterEach(() => fakes().assertNoProtocolProblems());

  /**
   * Sends to `to` on `channel`, asserts that exactly `expected` delivered (and that `skipped`
   * providers never saw the number), then verifies with the delivered code and checks the
   * verification went to `expected`.
   */
  async function deliveredBy(kit: Kit, channel: Channel, to: string, expected: ProviderName, tried: readonly ProviderName[] = []): Promise<void> {
    const requestId = await sendAccepted(kit.app, channel, to);
    const row = await storedRequest(get().knex, requestId);
    assert.equal(row.provider, expected, `${to} (${channel}) was delivered by ${String(row.provider)}, chain ${row.chain}`);
    for (const name of ['Twilio', 'Sinch', 'Mada'] as const) {
      const expectedSends = name === expected || tried.includes(name) ? 1 : 0;
      assert.equal(fakes().sendsTo(name, to), expectedSends, `${name} sends for ${to}`);
    }
    const code = fakes().codeFor(expected, to);
    await verifyAndDelete(kit.app, to, code);
    for (const name of ['Twilio', 'Sinch'] as const) {
      assert.deepEqual(fakes().checksOf(name, to).map((c) => c.code), name === expected ? [code] : [], `${name} checks for ${to}`);
    }
  }

  /** The routing scenarios of the contract, for a kit whose routing is ROUTING however it was set. */
  function routingScenarios(source: string, kitFor: () => Promise<Kit>): void {
    it(`${source}: +35987… and +35988… go to Mada; other numbers to Twilio`, async () => {
      const kit = await kitFor();
      await deliveredBy(kit, 'sms', phone('+35987'), 'Mada');
      await deliveredBy(kit, 'sms', phone('+35988'), 'Mada');
      await deliveredBy(kit, 'sms', phone('+35989'), 'Twilio');
      await deliveredBy(kit, 'sms', phone('+4670'), 'Twilio');
    });

    it(`${source}: with Twilio down other numbers go to Sinch; Mada numbers still go to Mada`, async () => {
      const kit = await kitFor();
      twilioDown();
      await deliveredBy(kit, 'sms', phone('+35989'), 'Sinch', ['Twilio']);
      await deliveredBy(kit, 'sms', phone('+4670'), 'Sinch', ['Twilio']);
      await deliveredBy(kit, 'sms', phone('+35988'), 'Mada');
    });

    it(`${source}: with Mada down a +35987 number falls back to Twilio (and to Sinch with Twilio down too)`, async () => {
      const kit = await kitFor();
      madaDown();
      await deliveredBy(kit, 'sms', phone('+35987'), 'Twilio', ['Mada']);
      twilioDown();
      await deliveredBy(kit, 'sms', phone('+35988'), 'Sinch', ['Mada', 'Twilio']);
    });

    it(`${source}: a call to a +35987 number skips Mada and goes to Twilio (Sinch with Twilio down)`, async () => {
      const kit = await kitFor();
      const to = phone('+35987');
      const requestId = await sendAccepted(kit.app, 'call', to);
      assert.equal((await storedRequest(get().knex, requestId)).chain, 'Twilio,Sinch', 'Mada is not in the chain of a call');
      assert.equal(fakes().mada.requests.length, 0);
      assert.deepEqual(fakes().twilio.requests[0]?.form, { To: to, Channel: 'call' });
      await verifyAndDelete(kit.app, to, fakes().codeFor('Twilio', to));
      assert.equal(fakes().checksOf('Twilio', to).length, 1);

      twilioDown();
      await deliveredBy(kit, 'call', phone('+35988'), 'Sinch', ['Twilio']);
      assert.equal(fakes().mada.requests.length, 0, 'Mada never got a call');
    });
  }

  routingScenarios(`OTP_SMS_PROVIDER=${ROUTING}`, async () => startKit(get().knex, fakeEnv(fakes(), ROUTING)));

  it('the settings row: written with otp.setRouting(), the same routing works end to end', async () => {
    const kit = startKit(get().knex, fakeEnv(fakes()));
    await kit.otp.setRouting(ROUTING);
    const stored: { value: string } | undefined = await get().knex('otp_settings').where({ key: ROUTING_SETTING_KEY }).first('value');
    assert.equal(stored?.value, ROUTING);
    await deliveredBy(kit, 'sms', phone('+35987'), 'Mada');
    await deliveredBy(kit, 'sms', phone('+4670'), 'Twilio');
    twilioDown();
    await deliveredBy(kit, 'sms', phone('+35989'), 'Sinch', ['Twilio']);
    madaDown();
    await deliveredBy(kit, 'sms', phone('+35988'), 'Sinch', ['Mada', 'Twilio']);
    await deliveredBy(kit, 'call', phone('+35987'), 'Sinch', ['Twilio']);
  });

  // Names are case-insensitive and spaces are tolerated in the row.
  routingScenarios('settings row written with SQL', async () => {
    await writeRow(get().knex, ' twilio ; MADA:+35987, +35988 ; sinch ');
    return startKit(get().knex, fakeEnv(fakes()));
  });

  it('OTP_SMS_PROVIDER wins over the settings row', async () => {
    await writeRow(get().knex, 'Sinch');
    const kit = startKit(get().knex, fakeEnv(fakes(), 'Twilio'));
    await deliveredBy(kit, 'sms', phone('+35989'), 'Twilio');
  });

  it('a change of the row takes effect without a restart (settingsRefreshSeconds 0.1)', async () => {
    await writeRow(get().knex, 'Twilio');
    const kit = startKit(get().knex, fakeEnv(fakes()), { settingsRefreshSeconds: 0.1 });
    await deliveredBy(kit, 'sms', phone('+35989'), 'Twilio');

    await writeRow(get().knex, 'Mada:+35987,+35988;Sinch;Twilio');
    await sleep(250);
    await deliveredBy(kit, 'sms', phone('+35989'), 'Sinch');
    await deliveredBy(kit, 'sms', phone('+35987'), 'Mada');

    // Another instance (another process in production) changes it through the API.
    const other = startKit(get().knex, fakeEnv(fakes()));
    await other.otp.setRouting('Twilio');
    await sleep(250);
    await deliveredBy(kit, 'sms', phone('+35987'), 'Twilio');
  });

  it('the row is cached for settingsRefreshSeconds on the kit clock, then re-read', async () => {
    const clock = testClock();
    await writeRow(get().knex, 'Twilio');
    const kit = startKit(get().knex, fakeEnv(fakes()), { clock, settingsRefreshSeconds: 5 });
    await deliveredBy(kit, 'sms', phone('+35989'), 'Twilio');
    await writeRow(get().knex, 'Sinch');
    clock.advance(4_000);
    await deliveredBy(kit, 'sms', phone('+35989'), 'Twilio');
    clock.advance(1_000);
    await deliveredBy(kit, 'sms', phone('+35989'), 'Sinch');
  });

  it('a row that turns malformed is logged and the last good routing stays in force', async () => {
    const clock = testClock();
    await writeRow(get().knex, 'Twilio');
    const kit = startKit(get().knex, fakeEnv(fakes()), { clock, settingsRefreshSeconds: 1 });
    await deliveredBy(kit, 'sms', phone('+35989'), 'Twilio');
    await writeRow(get().knex, 'Twilio;Mada:35987');
    clock.advance(2_000);
    await deliveredBy(kit, 'sms', phone('+35987'), 'Twilio');
    assert.ok(
      kit.logs.some((line) => line.includes('"level":"error"') && line.includes('malformed prefix') && line.includes('35987')),
      `the bad row is logged with the bad part: ${kit.logs.join('\n')}`,
    );
  });

  it('a row naming a provider without credentials fails otp.ready() naming the variable; sends skip that provider', async () => {
    await writeRow(get().knex, 'Sinch;Twilio');
    const env = fakeEnv(fakes());
    delete env.SINCH_APPLICATION_SECRET;
    const kit = startKit(get().knex, env);
    await assert.rejects(kit.otp.ready(), (error: unknown) => error instanceof OtpError && error.code === 'CONFIG_INVALID' && error.message.includes('SINCH_APPLICATION_SECRET'));
    await deliveredBy(kit, 'sms', phone('+35989'), 'Twilio');
    assert.ok(kit.logs.some((l) => l.includes('"level":"error"') && l.includes('SINCH_APPLICATION_SECRET')), 'the skipped provider is logged as an error');
  });

  it('overlapping prefixes: the longest wins, then the default chain (Twilio;Sinch:+359;Mada:+35987)', async () => {
    const kit = startKit(get().knex, fakeEnv(fakes(), 'Twilio;Sinch:+359;Mada:+35987'));
    await deliveredBy(kit, 'sms', phone('+35987'), 'Mada');
    await deliveredBy(kit, 'sms', phone('+35989'), 'Sinch');
    await deliveredBy(kit, 'sms', phone('+4670'), 'Twilio');
    madaDown();
    fakes().sinch.set({ start: { type: 'error', httpStatus: 503, errorCode: 50300 } });
    // The +35987 chain is Mada then the default chain: Sinch's +359 rule does not apply to it.
    await deliveredBy(kit, 'sms', phone('+35987'), 'Twilio', ['Mada']);
    await deliveredBy(kit, 'sms', phone('+35988'), 'Twilio', ['Sinch']);
  });
});
