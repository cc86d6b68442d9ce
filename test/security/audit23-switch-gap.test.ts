/**
 * Audit 23.3: a channel switch ("call me instead") did not restart the per-number cooldown, so a
 * direct send went through milliseconds after a switch. No two codes may reach a number closer
 * than `channelSwitchCooldownSeconds`, whatever the path: a direct send after a switch, a switch
 * after (or together with) a direct send, a switch after a switch. The windows run on the wall
 * clock, so the test waits for real (cooldowns of 4 s and 3 s).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Channel, OtpProvider } from '../../lib/types.js';
import { onAttackDatabases, postSend, sleep, attackAppStarter, type AttackApp } from './helpers/attack-app.js';
import { freshMobile } from './helpers/numbers.js';

const SEND_COOLDOWN = 4;
const SWITCH_COOLDOWN = 3;

/** Every code handed to a provider, with the moment it was. */
interface Stamp {
  readonly phone: string;
  readonly channel: Channel;
  readonly at: number;
}

function stampingProvider(stamps: Stamp[]): OtpProvider {
  return {
    name: 'Stamper',
    channels: ['sms', 'call', 'whatsapp'],
    ownsCode: false,
    async send(input) {
      stamps.push({ phone: input.phone, channel: input.channel, at: Date.now() });
      return { ref: `st-${input.requestId}` };
    },
  };
}

function postResend(app: AttackApp, phone: string, channel: Channel) {
  return app.http.post('/otp/resend').set('Content-Type', 'application/json').send({ phone, channel });
}

/** The smallest gap between two codes to `phone`, in ms. */
function smallestGap(stamps: readonly Stamp[], phone: string): number {
  const times = stamps.filter((s) => s.phone === phone).map((s) => s.at).sort((a, b) => a - b);
  let gap = Number.POSITIVE_INFINITY;
  for (let i = 1; i < times.length; i += 1) gap = Math.min(gap, (times[i] as number) - (times[i - 1] as number));
  return gap;
}

onAttackDatabases('audit 23.3: a channel switch restarts the gap between codes', (db) => {
  const start = attackAppStarter(db);
  const stamps: Stamp[] = [];
  const startApp = () =>
    start(
      {
        clock: Date.now,
        providers: ['Stamper'],
        limits: { sendCooldownSeconds: SEND_COOLDOWN, channelSwitchCooldownSeconds: SWITCH_COOLDOWN, sendsPerNumber: false },
      },
      { providers: [stampingProvider(stamps)] },
    );

  it('23.3 a direct send after a switch waits for the switch cooldown, even once the send cooldown is over', async () => {
    const app = await startApp();
    const phone = freshMobile();
    await postSend(app, phone).expect(202);
    await sleep(SWITCH_COOLDOWN * 1000 + 300);
    await postResend(app, phone, 'call').expect(202);
    // The SMS's own cooldown (4 s) is over one second later; the switch's (3 s) is not.
    await sleep(1000);
    const direct = await postSend(app, phone, { channel: 'sms' });
    assert.equal(direct.status, 429, 'a direct send 1 s after a switch');
    assert.equal(Number(direct.headers['retry-after']) <= SWITCH_COOLDOWN, true);
    const whatsapp = await app.http.post('/otp/whatsapp').set('Content-Type', 'application/json').send({ phone });
    assert.equal(whatsapp.status, 429, 'a direct send on a third channel 1 s after a switch');
    assert.ok(smallestGap(stamps, phone) >= SWITCH_COOLDOWN * 1000, `codes ${smallestGap(stamps, phone)} ms apart`);
  });

  it('23.3 a switch and a direct send at the same moment: one code goes out, the other is refused', async () => {
    const app = await startApp();
    const phone = freshMobile();
    await postSend(app, phone).expect(202);
    // Both cooldowns of the first code are over: either request alone would pass.
    await sleep(SEND_COOLDOWN * 1000 + 300);
    const [direct, switched] = await Promise.all([postSend(app, phone, { channel: 'call' }), postResend(app, phone, 'whatsapp')]);
    assert.deepEqual([direct.status, switched.status].sort(), [202, 429]);
    assert.equal(stamps.filter((s) => s.phone === phone).length, 2);
    assert.ok(smallestGap(stamps, phone) >= SWITCH_COOLDOWN * 1000, `codes ${smallestGap(stamps, phone)} ms apart`);
  });

  it('23.3 a switch after a switch, and a switch right after a send, wait for the switch cooldown', async () => {
    const app = await startApp();
    const phone = freshMobile();
    await postSend(app, phone).expect(202);
    assert.equal((await postResend(app, phone, 'call')).status, 429, 'a switch right after a send');
    await sleep(SWITCH_COOLDOWN * 1000 + 300);
    await postResend(app, phone, 'call').expect(202);
    const again = await Promise.all([postResend(app, phone, 'whatsapp'), postResend(app, phone, 'sms')]);
    assert.deepEqual(again.map((r) => r.status), [429, 429], 'switches right after a switch');
    assert.ok(smallestGap(stamps, phone) >= SWITCH_COOLDOWN * 1000, `codes ${smallestGap(stamps, phone)} ms apart`);
  });
});
