/**
 * Outbound webhooks on every database: events written with their state change, delivered signed
 * (checked with an independent verifier written from the Standard Webhooks spec), retried with the
 * same webhook-id until a 2xx, `failed` after maxAttempts, and nothing written without webhooks.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { OtpError, verifyWebhook, type Otp, type WebhookBody, type WebhookOptions } from '../../lib/index.js';
import { signWebhook } from '../../lib/webhooks/sign.js';
import { webhookKey } from '../../lib/core/webhook-options.js';
import { forEachDatabase, type TestDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';
import { recordingProvider } from '../helpers/providers.js';
import { newWebhookSecret, specVerify, startWebhookReceiver, type Decide, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { waitFor } from '../helpers/worker-utils.js';

const NEW_SECRET = newWebhookSecret();
const OLD_SECRET = newWebhookSecret();

it('signs exactly as the Standard Webhooks reference test vector', () => {
  const headers = signWebhook([webhookKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')], 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
  assert.equal(headers['webhook-signature'], 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  const delivery = { id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], signature: headers['webhook-signature'], body: '{"test": 2432232314}' };
  assert.equal(specVerify('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', delivery, 1614265330), true);
});

it('refuses a malformed webhook secret, naming the option', async () => {
  const { createOtp } = await import('../../lib/index.js');
  assert.throws(() => createOtp({ env: {}, webhooks: { url: 'http://127.0.0.1:1/x', secret: 'not-a-secret' } }), /option `webhooks\.secret` must be `whsec_`/);
  assert.throws(() => createOtp({ env: { OTP_WEBHOOK_URL: 'http://127.0.0.1:1/x' } }), /OTP_WEBHOOK_URL and OTP_WEBHOOK_SECRET go together/);
  assert.throws(() => createOtp({ env: {}, webhooks: { url: 'ftp://x', secret: NEW_SECRET } }), /option `webhooks\.url`/);
});

forEachDatabase('webhooks', (db) => {
  let receiver: WebhookReceiver;
  let decide: Decide = () => 200;
  const kits: Otp[] = [];

  before(async () => {
    receiver = await startWebhookReceiver((d) => decide(d));
  });
  after(async () => {
    await receiver.close();
  });

  async function kitWith(database: TestDatabase, webhooks: Partial<WebhookOptions> | false, extra: Parameters<typeof createTestKit>[1] = {}): Promise<Otp> {
    const kit = await createTestKit(database, {
      clock: Date.now,
      ...(webhooks === false ? {} : { webhooks: { url: receiver.url, secret: [NEW_SECRET, OLD_SECRET], baseDelayMs: 20, maxDelayMs: 40, timeoutMs: 2000, ...webhooks } }),
      ...extra,
    });
    kits.push(kit.otp);
    return kit.otp;
  }

  const outbox = (): Promise<Array<Record<string, unknown>>> => db().knex('otp_webhooks').select().orderBy('id');

  it('a send writes no outbox row when webhooks are not configured', async () => {
    const otp = await kitWith(db(), false);
    await otp.sendSms('+359871230001');
    assert.equal((await outbox()).length, 0);
    assert.throws(() => otp.startWebhookPoller(), /no webhook is configured/);
  });

  it('a sent code arrives as otp.sent, signed with every secret, verifiable from the spec', { timeout: 20_000 }, async () => {
    decide = () => 200;
    const otp = await kitWith(db(), {});
    const sent = await otp.sendSms('+359871230002');
    const rows = await outbox();
    assert.equal(rows.length, 1, 'the event was written with the send');
    const poller = otp.startWebhookPoller({ pollInterval: 20 });
    const got = await waitFor('the webhook', () => receiver.received.find((r) => r.body.includes(sent.requestId)));
    await poller.stop();
    assert.equal(got.id, rows[0]?.webhook_id);
    assert.equal(specVerify(NEW_SECRET, got), true, 'valid under the current secret');
    assert.equal(specVerify(OLD_SECRET, got), true, 'and under the old one (rotation)');
    assert.equal(specVerify(newWebhookSecret(), got), false);
    assert.equal(specVerify(NEW_SECRET, { ...got, body: got.body.replace('otp.sent', 'otp.xent') }), false, 'a tampered body fails');
    const body = JSON.parse(got.body) as WebhookBody;
    assert.equal(body.type, 'otp.sent');
    assert.deepEqual(
      { requestId: body.data.requestId, phone: body.data.phone, channel: body.data.channel, provider: body.data.provider },
      { requestId: sent.requestId, phone: '+35987*****02', channel: 'sms', provider: 'Console' },
    );
    assert.ok(!got.body.includes('359871230002') && !got.body.includes(sent.code ?? 'none'), 'no full number, no code');
    assert.ok(Date.parse(body.timestamp) > 0 && Date.parse(body.data.occurredAt) > 0);
    // The kit's own receiver helper agrees, and refuses tampering and staleness.
    const headers = { 'webhook-id': got.id, 'webhook-timestamp': got.timestamp, 'webhook-signature': got.signature };
    assert.equal(verifyWebhook(OLD_SECRET, headers, got.body).data.requestId, sent.requestId);
    assert.throws(() => verifyWebhook(NEW_SECRET, headers, `${got.body} `), (e) => e instanceof OtpError && e.code === 'WEBHOOK_SIGNATURE_INVALID' && e.status === 401);
    assert.throws(() => verifyWebhook(NEW_SECRET, headers, got.body, { now: () => Date.now() + 600_000 }), /outside the tolerance/);
    assert.throws(() => verifyWebhook(NEW_SECRET, { 'webhook-id': got.id }, got.body), /headers are required/);
    const [row] = await outbox();
    assert.deepEqual([row?.status, Number(row?.attempts), row?.lease_token], ['delivered', 1, null]);
  });

  it('a receiver that fails 3 times then succeeds gets the event once, with one webhook-id', { timeout: 20_000 }, async () => {
    await db().knex('otp_webhooks').delete();
    decide = (d) => (d.earlierOfId < 3 ? 500 : 200);
    const otp = await kitWith(db(), {});
    const sent = await otp.sendSms('+359871230003');
    const poller = otp.startWebhookPoller({ pollInterval: 20 });
    const [row] = await waitFor('delivery', async () => {
      const r = await outbox();
      return r[0]?.status === 'delivered' ? r : undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await poller.stop();
    const tries = receiver.received.filter((r) => r.body.includes(sent.requestId));
    assert.deepEqual(tries.map((t) => t.status), [500, 500, 500, 200]);
    assert.equal(new Set(tries.map((t) => t.id)).size, 1, 'the same webhook-id on every attempt');
    assert.equal(receiver.acceptedFor(row?.webhook_id as string).length, 1, 'accepted once');
    assert.equal(Number(row?.attempts), 4);
    for (const t of tries) assert.equal(specVerify(NEW_SECRET, t), true);
  });

  it('a receiver that never succeeds leaves the event failed after maxAttempts', { timeout: 20_000 }, async () => {
    await db().knex('otp_webhooks').delete();
    decide = () => 503;
    const otp = await kitWith(db(), { maxAttempts: 3 });
    const sent = await otp.sendSms('+359871230004');
    const poller = otp.startWebhookPoller({ pollInterval: 20 });
    const [row] = await waitFor('failed', async () => {
      const r = await outbox();
      return r[0]?.status === 'failed' ? r : undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await poller.stop();
    assert.equal(receiver.received.filter((r) => r.body.includes(sent.requestId)).length, 3);
    assert.deepEqual([Number(row?.attempts), row?.next_attempt_at, row?.last_error], [3, null, 'the receiver answered HTTP 503']);
  });

  it('a send that fails for good is written as otp.failed with the failed row (and `events` filters)', { timeout: 20_000 }, async () => {
    await db().knex('otp_webhooks').delete();
    decide = () => 200;
    const bad = recordingProvider('Bad');
    bad.plan = ['permanent'];
    const otp = await kitWith(db(), { events: ['otp.failed'] }, { providers: ['Bad'], customProviders: [bad] });
    await assert.rejects(otp.sendSms('+359871230005'), (e) => e instanceof OtpError && e.code === 'PROVIDER_UNAVAILABLE');
    const rows = await outbox();
    assert.deepEqual(rows.map((r) => r.event_type), ['otp.failed']);
    const body = JSON.parse(String(rows[0]?.body)) as WebhookBody;
    const request = await db().knex('otp_requests').where({ request_id: body.data.requestId }).first('status');
    assert.equal((request as { status: string }).status, 'failed');
    assert.deepEqual([body.data.status, body.data.attempts, body.data.phone], ['failed', 1, '+35987*****05']);
    const ok = await kitWith(db(), { events: ['otp.failed'] });
    await ok.sendSms('+359871230006');
    assert.equal((await outbox()).length, 1, 'otp.sent is not subscribed: nothing written for it');
  });
});
