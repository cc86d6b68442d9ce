/**
 * Issue 24: each request ends exactly once across processes, on every database.
 * - two poller processes sweep the same table: every ended request gets one end webhook (delivered
 *   once, signed), one rollup count, and the verified/canceled/max-attempts/expired outcome its row says;
 * - a poller process killed with SIGKILL in the middle of its end sweep: what it committed stays,
 *   the transaction it was in rolls back, and a restarted poller ends the rest, once each.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import type { Knex } from 'knex';
import { startDeliveryRecorder, type DeliveryRecorder } from '../helpers/delivery-recorder.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit, TEST_SECRET } from '../helpers/kit.js';
import { newWebhookSecret, specVerify, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { spawnWorker, stopWorker, waitFor, type WorkerHandle } from '../helpers/worker-utils.js';

const SECRET = newWebhookSecret();
const END_TYPES = ['otp.verified', 'otp.expired', 'otp.max_attempts_reached', 'otp.canceled'];
/** Created a day ago by the test's clock, so every code has expired for the workers' real clock. */
const CREATED = Date.now() - 86_400_000;

/** Request rows in the state the send and verify paths leave them, ended but not yet claimed: a quarter each verified, superseded, at the attempt cap, expired. */
async function seedEnded(knex: Knex, count: number, offset: number): Promise<string[]> {
  const ids: string[] = [];
  const rows = [];
  for (let i = 0; i < count; i += 1) {
    const n = offset + i;
    const requestId = randomUUID();
    ids.push(requestId);
    const kind = n % 4;
    rows.push({
      request_id: requestId, phone: `+3598821${String(n).padStart(5, '0')}`, channel: 'sms', purpose: n % 2 === 0 ? 'login' : 'signup', chain: 'Recorder', provider: 'Recorder',
      code_owner: 'kit', code_digest: 'x'.repeat(64), message_template: 'Your _APP_ code is _CODE_', status: 'sent', send_attempts: 1,
      verify_status: kind === 0 ? 'verified' : kind === 1 ? 'superseded' : 'pending', attempts: kind === 2 ? 5 : 0, verified_at: kind === 0 ? CREATED + 15_000 : null,
      expires_at: CREATED + 300_000, created_at: CREATED, updated_at: CREATED + 20_000,
    });
  }
  for (let i = 0; i < rows.length; i += 100) await knex('otp_requests').insert(rows.slice(i, i + 100));
  return ids;
}

forEachDatabase('request ends across processes', (db) => {
  let recorder: DeliveryRecorder;
  let receiver: WebhookReceiver;
  const workers: WorkerHandle[] = [];

  before(async () => {
    recorder = await startDeliveryRecorder({ decide: () => 'ok' });
    receiver = await startWebhookReceiver(() => 200);
  });
  after(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await recorder.close();
    await receiver.close();
  });

  const env = (sweepMs: number): Record<string, string> => ({
    DATABASE_URL: db().url,
    OTP_SECRET: TEST_SECRET,
    RECORDER_URL: recorder.url,
    WORKER_POLLER: JSON.stringify({ pollInterval: 50, endSweepInterval: sweepMs, purgeInterval: false }),
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_OPTIONS: JSON.stringify({ baseDelayMs: 50, maxDelayMs: 200, timeoutMs: 2000 }),
    WEBHOOK_POLLER_OPTIONS: JSON.stringify({ pollInterval: 30, concurrency: 10 }),
  });
  const endRows = (): Promise<Array<{ request_id: string; event_type: string; status: string }>> => db().knex('otp_webhooks').whereIn('event_type', END_TYPES).select('request_id', 'event_type', 'status');
  const unended = async (): Promise<number> => Number((await db().knex('otp_requests').whereNull('ended_at').count<Array<{ n: number | string }>>({ n: '*' }))[0]?.n);

  async function assertEachOnce(ids: readonly string[]): Promise<void> {
    const rows = await endRows();
    assert.equal(rows.length, ids.length, 'one end event per request');
    const byId = new Map(rows.map((r) => [r.request_id, r]));
    for (const id of ids) assert.ok(byId.has(id), `${id} has its end event`);
    const kit = await createTestKit(db());
    const figures = await kit.otp.insights({ from: new Date(CREATED - 3_600_000), to: new Date(CREATED + 3_600_000) });
    assert.equal(figures.totals.requests, ids.length, 'each request counted once in the rollups');
    assert.equal(figures.totals.verified, rows.filter((r) => r.event_type === 'otp.verified').length);
    assert.equal(figures.totals.canceled, rows.filter((r) => r.event_type === 'otp.canceled').length);
    assert.equal(figures.totals.maxAttempts, rows.filter((r) => r.event_type === 'otp.max_attempts_reached').length);
    assert.equal(figures.totals.expired, rows.filter((r) => r.event_type === 'otp.expired').length);
    assert.deepEqual(
      [figures.totals.verified, figures.totals.canceled, figures.totals.maxAttempts, figures.totals.expired],
      [ids.length / 4, ids.length / 4, ids.length / 4, ids.length / 4],
    );
    await kit.otp.close();
  }

  it('two poller processes end each of 2,400 requests (more than two claims each) exactly once, and deliver each end webhook once', { timeout: 90_000 }, async () => {
    const kit = await createTestKit(db());
    await kit.otp.close();
    // More rows than two claims take (1,000 a claim; 250 on SQLite), so the pollers' claims interleave.
    const ids = await seedEnded(db().knex, 2400, 0);
    const [p1, p2] = await Promise.all([spawnWorker('P1', env(10)), spawnWorker('P2', env(10))]);
    workers.push(p1, p2);
    await waitFor('every request ended and its webhook delivered', async () => (await unended()) === 0 && (await endRows()).every((r) => r.status === 'delivered'), 60_000, 50);
    await Promise.all([stopWorker(p1), stopWorker(p2)]);
    await assertEachOnce(ids);
    const ends = receiver.received.filter((r) => END_TYPES.includes((JSON.parse(r.body) as { type: string }).type));
    assert.equal(ends.length, ids.length, 'each end webhook delivered once');
    assert.equal(new Set(ends.map((r) => r.id)).size, ids.length);
    assert.ok(ends.every((r) => specVerify(SECRET, r)), 'signed like every webhook');
    assert.ok(ends.every((r) => !r.body.includes('+3598821')), 'no number in an end webhook');
    assert.equal(p1.stderr.join('') + p2.stderr.join(''), '', 'no errors logged');
  });

  it('SIGKILL in the middle of an end sweep: nothing is lost or counted twice', { timeout: 120_000 }, async () => {
    await db().knex('otp_webhooks').delete();
    await db().knex('otp_requests').delete();
    await db().knex('otp_insights').delete();
    const ids = await seedEnded(db().knex, 2000, 1000);
    // No webhook poller: the outbox rows stay to be counted.
    const a = await spawnWorker('A', { ...env(10), WEBHOOK_POLLER: '0' });
    workers.push(a);
    await waitFor('A to end some requests', async () => (await unended()) < ids.length, 30_000, 2);
    a.child.kill('SIGKILL');
    assert.deepEqual(await a.exited, { code: null, signal: 'SIGKILL' });
    const left = await unended();
    const written = (await endRows()).length;
    assert.equal(written, ids.length - left, 'the end events committed are exactly those of the rows claimed');
    const b = await spawnWorker('B', { ...env(10), WEBHOOK_POLLER: '0' });
    workers.push(b);
    await waitFor('B to end the rest', async () => (await unended()) === 0, 60_000, 20);
    assert.deepEqual(await stopWorker(b), { code: 0, signal: null });
    await assertEachOnce(ids);
    assert.equal(b.stderr.join(''), '', 'no errors logged');
    process.stdout.write(`# killed with ${left} of ${ids.length} requests not ended yet\n`);
  });
});
