/**
 * Locks as webhooks on every database: a number locked by wrong codes (failure budget and the
 * wrong-code lock) and a range held by the pumping breaker arrive as `otp.number_locked` and
 * `otp.range_held`, written with the lock in one transaction, masked, signed.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Otp, WebhookBody } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';
import { newWebhookSecret, specVerify, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { waitFor } from '../helpers/worker-utils.js';

const SECRET = newWebhookSecret();

forEachDatabase('webhooks of locks', (db) => {
  let receiver: WebhookReceiver;
  before(async () => {
    receiver = await startWebhookReceiver(() => 200);
  });
  after(async () => {
    await receiver.close();
  });

  const bodies = (type: string): WebhookBody[] => receiver.received.map((r) => JSON.parse(r.body) as WebhookBody).filter((b) => b.type === type);
  const outboxOf = async (type: string): Promise<number> => Number(((await db().knex('otp_webhooks').where({ event_type: type }).count({ n: '*' }).first()) as { n: unknown }).n);

  async function kit(limits: Record<string, unknown>): Promise<Otp> {
    const made = await createTestKit(db(), { clock: Date.now, limits, webhooks: { url: receiver.url, secret: SECRET, baseDelayMs: 20, maxDelayMs: 40, timeoutMs: 2000 } });
    await db().knex('otp_limits').delete();
    await db().knex('otp_failures').delete();
    return made.otp;
  }

  it('the failure budget and the wrong-code lock locking a number each arrive as otp.number_locked', { timeout: 20_000 }, async () => {
    const otp = await kit({ failureBudget: { failures: 2, lockSeconds: 60 }, verifyLock: { failures: 2, windowSeconds: 600, lockSeconds: 30 } });
    const phone = '+359871240001';
    const sent = await otp.sendSms(phone);
    const wrong = sent.code === '000000' ? '111111' : '000000';
    await otp.verify(phone, wrong);
    await otp.verify(phone, wrong);
    assert.equal(await outboxOf('otp.number_locked'), 2, 'one event per lock, written with it');
    const poller = otp.startWebhookPoller({ pollInterval: 20 });
    await waitFor('two number_locked webhooks', () => bodies('otp.number_locked').length >= 2);
    await poller.stop();
    const locks = bodies('otp.number_locked').map((b) => [b.data.lock, b.data.phone, b.data.failures]).sort();
    assert.deepEqual(locks, [['failureBudget', '+35987*****01', 2], ['verifyLock', '+35987*****01', 2]]);
    for (const r of receiver.received) assert.equal(specVerify(SECRET, r), true);
    assert.ok(!receiver.received.some((r) => r.body.includes('359871240001')), 'never the full number');
  });

  it('a range held by the pumping breaker arrives as otp.range_held', { timeout: 20_000 }, async () => {
    const otp = await kit({ conversionBreaker: { minSends: 3, checkEvery: 1, minRatio: 0.5, hiddenDigits: 4, holdSeconds: 120 }, sendsPerPrefix: { max: 1000 }, sendCooldownSeconds: false });
    // Judged before the send's own row is written: the 4th send sees 3 unverified sends of the range.
    for (let i = 0; i < 4; i += 1) await otp.sendSms(`+35988124${String(i).padStart(4, '0')}`);
    assert.equal(await outboxOf('otp.range_held'), 1);
    const poller = otp.startWebhookPoller({ pollInterval: 20 });
    await waitFor('the range_held webhook', () => bodies('otp.range_held').length >= 1);
    await poller.stop();
    const [held] = bodies('otp.range_held');
    assert.deepEqual([held?.data.range, held?.data.holdSeconds, held?.data.verified], ['+35988124', 120, 0]);
  });

  it('without webhooks a lock writes no outbox row', async () => {
    const made = await createTestKit(db(), { clock: Date.now, limits: { failureBudget: { failures: 1, lockSeconds: 60 } } });
    await db().knex('otp_webhooks').delete();
    const sent = await made.otp.sendSms('+359871240009');
    await made.otp.verify('+359871240009', sent.code === '000000' ? '111111' : '000000');
    assert.equal(await outboxOf('otp.number_locked'), 0);
  });
});
