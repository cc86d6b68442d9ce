/**
 * Durable webhooks across processes, on every database:
 * - an app process is killed with SIGKILL after its sends committed and before any webhook went
 *   out; a restarted process delivers every event, once, and a further restart sends none again;
 * - two poller processes share one outbox: every event is delivered exactly once, never two
 *   deliveries of one event at the same time.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Otp, WebhookBody } from '../../lib/index.js';
import { startDeliveryRecorder, type DeliveryRecorder } from '../helpers/delivery-recorder.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit, TEST_SECRET } from '../helpers/kit.js';
import { recordingProvider } from '../helpers/providers.js';
import { newWebhookSecret, specVerify, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { sleep, spawnWorker, stopWorker, waitFor, type WorkerHandle } from '../helpers/worker-utils.js';

const SECRET = newWebhookSecret();
const SENDS = ['+359882100001', '+359882100002', '+359882100003', '+359882100004', '+359882100005'];

forEachDatabase('webhooks across processes', (db) => {
  let recorder: DeliveryRecorder;
  let receiver: WebhookReceiver;
  const workers: WorkerHandle[] = [];

  before(async () => {
    recorder = await startDeliveryRecorder({ decide: () => 'ok' });
    receiver = await startWebhookReceiver(() => 200, 20);
  });
  after(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await recorder.close();
    await receiver.close();
  });

  const baseEnv = (): Record<string, string> => ({
    DATABASE_URL: db().url,
    OTP_SECRET: TEST_SECRET,
    RECORDER_URL: recorder.url,
    WORKER_POLLER: JSON.stringify({ pollInterval: 50 }),
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_OPTIONS: JSON.stringify({ baseDelayMs: 50, maxDelayMs: 200, timeoutMs: 2000 }),
    WEBHOOK_POLLER_OPTIONS: JSON.stringify({ pollInterval: 30, concurrency: 5 }),
  });
  const outbox = (): Promise<Array<{ webhook_id: string; status: string; body: string }>> => db().knex('otp_webhooks').select('webhook_id', 'status', 'body').orderBy('id');

  it('SIGKILL between the sends and their webhooks: a restart delivers every event once', { timeout: 60_000 }, async () => {
    const a = await spawnWorker('A', { ...baseEnv(), WORKER_SENDS: JSON.stringify(SENDS), WEBHOOK_POLLER: '0' });
    workers.push(a);
    const pending = await waitFor(
      'A to commit its sends and their events',
      async () => {
        const rows = await outbox();
        return rows.length === SENDS.length ? rows : undefined;
      },
      20_000,
      20,
    );
    assert.ok(pending.every((r) => r.status === 'pending'));
    a.child.kill('SIGKILL');
    assert.deepEqual(await a.exited, { code: null, signal: 'SIGKILL' });
    assert.equal(receiver.received.length, 0, 'nothing was delivered before the kill');
    const sent = await db().knex('otp_requests').where({ status: 'sent' }).count<Array<{ n: number | string }>>({ n: '*' });
    assert.equal(Number(sent[0]?.n), SENDS.length);

    const b = await spawnWorker('B', baseEnv());
    workers.push(b);
    await waitFor('B to deliver every event', async () => (await outbox()).every((r) => r.status === 'delivered'), 20_000, 20);
    assert.deepEqual(await stopWorker(b), { code: 0, signal: null });
    const ids = pending.map((r) => r.webhook_id);
    for (const id of ids) {
      const got = receiver.received.filter((r) => r.id === id);
      assert.equal(got.length, 1, `${id} delivered once`);
      assert.equal(got[0] !== undefined && specVerify(SECRET, got[0]), true);
      assert.equal((JSON.parse(got[0]?.body ?? '{}') as WebhookBody).type, 'otp.sent');
    }
    assert.deepEqual(new Set(receiver.received.map((r) => (JSON.parse(r.body) as WebhookBody).data.phone)), new Set(SENDS.map((p) => `${p.slice(0, 6)}*****${p.slice(-2)}`)));

    // A receiver that answered 2xx is not sent the events again after another restart.
    const c = await spawnWorker('C', baseEnv());
    workers.push(c);
    await sleep(500);
    assert.deepEqual(await stopWorker(c), { code: 0, signal: null });
    assert.equal(receiver.received.length, SENDS.length);
    assert.equal(b.stderr.join('') + c.stderr.join(''), '', 'no errors logged');
  });

  it('two poller processes deliver each of 60 events exactly once, never concurrently', { timeout: 60_000 }, async () => {
    await db().knex('otp_webhooks').delete();
    receiver.received.length = 0;
    const kit = await createTestKit(db(), {
      clock: Date.now,
      providers: ['Rec'],
      customProviders: [recordingProvider('Rec')],
      webhooks: { url: receiver.url, secret: SECRET },
    });
    const otp: Otp = kit.otp;
    for (let i = 0; i < 60; i += 1) await otp.sendSms(`+3598822${String(i).padStart(5, '0')}`);
    const ids = (await outbox()).map((r) => r.webhook_id);
    assert.equal(ids.length, 60);

    const [p1, p2] = await Promise.all([spawnWorker('P1', baseEnv()), spawnWorker('P2', baseEnv())]);
    workers.push(p1, p2);
    await waitFor('every event delivered', async () => (await outbox()).every((r) => r.status === 'delivered'), 30_000, 20);
    await Promise.all([stopWorker(p1), stopWorker(p2)]);
    for (const id of ids) assert.equal(receiver.received.filter((r) => r.id === id).length, 1, `${id} delivered exactly once`);
    assert.equal(receiver.received.length, 60);
    assert.deepEqual(receiver.overlaps, [], 'no event was in flight twice at once');
  });
});
