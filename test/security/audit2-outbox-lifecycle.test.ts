/**
 * Issue 23.4: the webhook outbox has a lifecycle. `purge()` deletes delivered and failed events
 * past `retention.webhookDays` (pending ones stay until they end), and `forget(phone)` erases the
 * number's events, request events and lock events alike, found by a keyed digest of the number
 * (`phone_key`), never by the number in clear, even on an instance without webhooks configured.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { WebhookBody } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';
import { newWebhookSecret } from '../helpers/webhook-receiver.js';

const DAY = 86_400_000;
const WEBHOOKS = { url: 'http://127.0.0.1:9/unused', secret: newWebhookSecret() };

forEachDatabase('webhook outbox lifecycle', (db) => {
  const rows = async (): Promise<Array<Record<string, unknown>>> => db().knex('otp_webhooks').select().orderBy('id');

  it('purge deletes delivered and failed events past retention, keeps pending and recent ones', async () => {
    const kit = await createTestKit(db(), { webhooks: WEBHOOKS });
    const ids: string[] = [];
    for (const n of ['01', '02', '03', '04', '05']) ids.push((await kit.otp.sendSms(`+3598712307${n}`)).requestId);
    const now = kit.clock.now();
    const set = (requestId: string, status: string, updatedAt: number): Promise<number> =>
      db().knex('otp_webhooks').where({ request_id: requestId }).update({ status, updated_at: updatedAt, created_at: updatedAt, delivered_at: status === 'delivered' ? updatedAt : null });
    await set(ids[0] as string, 'delivered', now - 40 * DAY);
    await set(ids[1] as string, 'failed', now - 40 * DAY);
    await set(ids[2] as string, 'pending', now - 40 * DAY);
    await set(ids[3] as string, 'delivered', now - 1 * DAY);
    await set(ids[4] as string, 'failed', now - 6 * DAY);
    const result = await kit.otp.purge();
    assert.equal(result.webhooks, 2);
    assert.deepEqual((await rows()).map((r) => r.request_id), [ids[2], ids[3], ids[4]], 'a pending event stays until it ends; recent ones stay');
    // A shorter retention takes the 6-day-old failure too.
    const short = await createTestKit(db(), { webhooks: WEBHOOKS, retention: { webhookDays: 5 } });
    short.clock.set(now);
    assert.equal((await short.otp.purge()).webhooks, 1);
    assert.deepEqual((await rows()).map((r) => r.request_id), [ids[2], ids[3]]);
  });

  it('forget erases the number\'s events (request and lock events), even where webhooks are off', async () => {
    await db().knex('otp_webhooks').delete();
    const kit = await createTestKit(db(), { webhooks: WEBHOOKS, limits: { verifyLock: { failures: 2 } } });
    const A = '+359871230711';
    const B = '+359871230712';
    const C = '+359871230713';
    const a = await kit.otp.sendSms(A, { ip: '198.51.100.20' });
    for (const wrong of ['000000', '000001']) await kit.otp.verify(A, wrong, { ip: '198.51.100.20' });
    await kit.otp.sendSms(B, { ip: '198.51.100.21' });
    await kit.otp.sendSms(C, { ip: '198.51.100.22' });
    const types = (list: Array<Record<string, unknown>>, masked: string): string[] =>
      list.map((r) => JSON.parse(String(r.body)) as WebhookBody).filter((b) => b.data.phone === masked).map((b) => b.type);
    assert.deepEqual(types(await rows(), '+35987*****11'), ['otp.sent', 'otp.number_locked']);
    // The key column holds no form of the number.
    for (const r of await rows()) assert.ok(!JSON.stringify(r).includes('871230711'), JSON.stringify(r));

    const result = await kit.otp.forget(A);
    assert.equal(result.webhooks, 2);
    const left = await rows();
    assert.deepEqual(types(left, '+35987*****11'), [], 'no event of the number is left');
    // What stays of request A is the end event forget itself writes (issue 24: `otp.canceled`, reason
    // `forgotten`), which holds no form of the number, not even masked.
    const ofA = left.filter((r) => r.request_id === a.requestId);
    assert.deepEqual(ofA.map((r) => String(r.event_type)), ['otp.canceled']);
    for (const r of ofA) {
      assert.ok(!/\+?3598\d|\*{3}/.test(String(r.body)), String(r.body));
      assert.equal(JSON.parse(String(r.body)).data.reason, 'forgotten');
    }
    assert.deepEqual(types(left, '+35987*****12'), ['otp.sent'], 'other numbers keep theirs');

    // An instance without webhooks (same secret) still finds and erases a number's events.
    const plain = await createTestKit(db(), { webhooks: false });
    assert.equal((await plain.otp.forget(B)).webhooks, 1);
    assert.deepEqual(types(await rows(), '+35987*****12'), []);
    assert.deepEqual(types(await rows(), '+35987*****13'), ['otp.sent']);
  });
});
