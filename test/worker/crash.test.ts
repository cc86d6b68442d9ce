/**
 * Crash recovery by lease expiry (security #37), on every database: worker A claims due rows and
 * starts two sends on its request path, its provider calls hang, and A is killed with SIGKILL while
 * it holds the leases. Worker B takes those rows over only once the leases run out, delivers every
 * one of them with the same code A tried, and the codes verify. Nothing is lost.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createOtp, silentLogger, type Otp } from '../../lib/index.js';
import { toRequestRow } from '../../lib/storage/request-row.js';
import { startDeliveryRecorder, type DeliveryRecorder } from '../helpers/delivery-recorder.js';
import { forEachDatabase } from '../helpers/db.js';
import { TEST_SECRET } from '../helpers/kit.js';
import { recordingProvider } from '../helpers/providers.js';
import { insertDueRequest, spawnWorker, stopWorker, waitFor, type WorkerHandle } from '../helpers/worker-utils.js';

const PROVIDER_TIMEOUT_MS = 2000;
/** What the kit leases a one-provider chain for: one provider timeout plus 5 s. */
const LEASE_MS = PROVIDER_TIMEOUT_MS + 5000;
const QUEUED = ['+359882000001', '+359882000002', '+359882000003', '+359882000004', '+359882000005', '+359882000006'];
const SENDS = ['+359882000101', '+359882000102'];

forEachDatabase('crash recovery', (db) => {
  let recorder: DeliveryRecorder;
  let otp: Otp;
  const workers: WorkerHandle[] = [];

  before(async () => {
    // Worker A's calls never get an answer; everyone else's are accepted.
    recorder = await startDeliveryRecorder({ decide: (call) => (call.worker === 'A' ? 'hang' : 'ok') });
    otp = createOtp({ db: db().knex, secret: TEST_SECRET, providers: ['Recorder'], customProviders: [recordingProvider('Recorder')], logger: silentLogger, env: {} });
    await otp.migrate();
  });
  after(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await recorder.close();
  });

  it('a SIGKILLed worker’s leased rows are delivered by another worker once the lease runs out', { timeout: 60_000 }, async (t) => {
    const now = Date.now();
    const seeded = new Map<string, string>();
    for (const phone of QUEUED) {
      const row = await insertDueRequest(otp, { phone, chain: ['Recorder'], now });
      seeded.set(row.requestId, row.code);
    }
    const env = {
      DATABASE_URL: db().url,
      OTP_SECRET: TEST_SECRET,
      RECORDER_URL: recorder.url,
      WORKER_SMS: JSON.stringify({ retry: true, maxRetries: 5 }),
      WORKER_POLLER: JSON.stringify({ pollInterval: 50, batchSize: 10, concurrency: 10 }),
      WORKER_PROVIDER_TIMEOUT_MS: String(PROVIDER_TIMEOUT_MS),
    };

    const a = await spawnWorker('A', { ...env, WORKER_SENDS: JSON.stringify(SENDS) });
    workers.push(a);
    await waitFor('A to have all 8 deliveries in flight', () => recorder.inFlight('A').length === 8, 15_000);
    const held = (await otp.knex('otp_requests').select()).map((r: Record<string, unknown>) => toRequestRow(r));
    assert.equal(held.length, 8);
    for (const row of held) {
      assert.equal(row.status, 'sending');
      assert.equal(row.leaseToken !== null && row.leaseExpiresAt !== null && row.leaseExpiresAt > Date.now(), true, 'A holds a live lease');
    }
    const ownerOf = await otp.knex('otp_requests').distinct('lease_owner');
    assert.deepEqual(ownerOf.map((r: { lease_owner: string }) => r.lease_owner), [a.instanceId]);
    const leaseEnd = new Map(held.map((r) => [r.requestId, r.leaseExpiresAt ?? 0]));

    a.child.kill('SIGKILL');
    assert.deepEqual(await a.exited, { code: null, signal: 'SIGKILL' });
    const killedAt = Date.now();

    const b = await spawnWorker('B', env);
    workers.push(b);
    const rows = await waitFor(
      'B to deliver every row',
      async () => {
        const all = (await otp.knex('otp_requests').select()).map((r: Record<string, unknown>) => toRequestRow(r));
        return all.every((r) => r.status === 'sent') ? all : undefined;
      },
      LEASE_MS + 15_000,
      50,
    );
    t.diagnostic(`A killed ${LEASE_MS - (Math.max(...leaseEnd.values()) - killedAt)} ms into its lease; B finished ${Date.now() - killedAt} ms after the kill`);

    for (const row of rows) {
      const calls = recorder.callsFor(row.requestId);
      const [fromA, fromB, ...more] = calls;
      assert.equal(more.length, 0, `${row.requestId}: one attempt by A and one by B`);
      assert.equal(fromA?.worker, 'A');
      assert.equal(fromB?.worker, 'B');
      assert.equal(fromB.accepted, true);
      assert.ok(fromB.startedAt >= (leaseEnd.get(row.requestId) ?? Infinity), 'B waited for the lease to run out');
      assert.equal(fromB.code, fromA.code, 'the retry sends the same code');
      assert.equal(fromB.text, fromA.text, 'and the same text');
      if (seeded.has(row.requestId)) assert.equal(fromB.code, seeded.get(row.requestId));
      assert.deepEqual([row.leaseToken, row.leaseExpiresAt, row.provider, row.providerRef], [null, null, 'Recorder', `rec-${fromB.index}`]);
      // The delivered code is the live one.
      const verified = await otp.verify(row.phone, fromB.code);
      assert.equal(verified.codeValid, true, `${row.phone} verifies with the code B delivered`);
    }
    assert.deepEqual(new Set(rows.map((r) => r.phone)), new Set([...QUEUED, ...SENDS]), 'the request-path sends A never finished are delivered too');
    assert.equal(recorder.overlaps.length, 0, 'no two deliveries of one row at once');

    assert.deepEqual(await stopWorker(b), { code: 0, signal: null });
    assert.ok(b.stdout.includes('{"stopped":true}'));
    assert.equal(b.stderr.join(''), '', 'B logged no errors');
  });
});
