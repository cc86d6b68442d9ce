/**
 * Issue 26: workflow steps are scheduled in the request table and run by the retry poller under its
 * leases, across processes. Twenty requests whose SMS step went out (in this process) are due for
 * their call step. Worker A claims ten of them, its calls hang, and it is killed with SIGKILL;
 * workers B and C race for the rest at once and take A's over when its leases run out. Every
 * request gets its call step delivered exactly once (A's hung calls were never accepted), with the
 * SMS's code, and no request advances past its call step (no step is begun twice).
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createOtp, silentLogger, type Otp } from '../../lib/index.js';
import { parseSteps } from '../../lib/core/workflow.js';
import { toRequestRow } from '../../lib/storage/request-row.js';
import { startDeliveryRecorder, type DeliveryRecorder } from '../helpers/delivery-recorder.js';
import { forEachDatabase } from '../helpers/db.js';
import { TEST_SECRET } from '../helpers/kit.js';
import { recordingProvider, type RecordingProvider } from '../helpers/providers.js';
import { spawnWorker, stopWorker, waitFor, type WorkerHandle } from '../helpers/worker-utils.js';

const PROVIDER_TIMEOUT_MS = 2000;
const LEASE_MS = PROVIDER_TIMEOUT_MS + 5000;
const PHONES = Array.from({ length: 20 }, (_, i) => `+3598840${String(i).padStart(5, '0')}`);

forEachDatabase('workflow steps across processes', (db) => {
  let recorder: DeliveryRecorder;
  let otp: Otp;
  let sms: RecordingProvider;
  const workers: WorkerHandle[] = [];

  before(async () => {
    recorder = await startDeliveryRecorder({ decide: (call) => (call.worker === 'A' ? 'hang' : 'ok') });
    sms = recordingProvider('Recorder');
    // This process sends the SMS steps 20 s in the past: their call steps (15 s) are due for the workers now.
    otp = createOtp({
      db: db().knex, secret: TEST_SECRET, providers: ['Recorder'], customProviders: [sms], logger: silentLogger, env: {},
      limits: false, ttlSeconds: 600, workflow: 'sms:15,call:500,call', clock: () => Date.now() - 20_000,
    });
    await otp.migrate();
  });
  after(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await recorder.close();
  });

  function keep(w: WorkerHandle): WorkerHandle {
    workers.push(w);
    return w;
  }

  it('two pollers and a SIGKILLed one: each step is sent once, none is begun twice', { timeout: 90_000 }, async (t) => {
    const sent = new Map<string, string>();
    for (const phone of PHONES) {
      const r = await otp.sendSms(phone);
      sent.set(r.requestId, sms.calls.at(-1)?.code ?? '');
    }
    const env = {
      DATABASE_URL: db().url,
      OTP_SECRET: TEST_SECRET,
      RECORDER_URL: recorder.url,
      WORKER_SMS: JSON.stringify({ retry: true, maxRetries: 5 }),
      WORKER_POLLER: JSON.stringify({ pollInterval: 50, batchSize: 10, concurrency: 10, purgeInterval: false }),
      WORKER_PROVIDER_TIMEOUT_MS: String(PROVIDER_TIMEOUT_MS),
      WORKER_LIMITS: 'false',
    };
    const a = await spawnWorker('A', env, 60_000);
    workers.push(a);
    await waitFor('A to have 10 call steps in flight', () => recorder.inFlight('A').length === 10, 20_000);
    a.child.kill('SIGKILL');
    assert.deepEqual(await a.exited, { code: null, signal: 'SIGKILL' });
    const killedAt = Date.now();

    // Both start at once; each is pushed as soon as it is up, so `after` kills it even if the other fails.
    const started = await Promise.allSettled(['B', 'C'].map((name) => spawnWorker(name, env, 60_000).then(keep)));
    const [b, c] = started.map((r) => {
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    }) as [WorkerHandle, WorkerHandle];
    const rows = await waitFor(
      'every call step delivered',
      async () => {
        const all = (await otp.knex('otp_requests').select()).map((r: Record<string, unknown>) => toRequestRow(r));
        return all.length === PHONES.length && all.every((r) => r.status === 'sent' && r.channel === 'call' && r.leaseToken === null) ? all : undefined;
      },
      LEASE_MS + 30_000,
      50,
    );
    t.diagnostic(`B and C finished ${Date.now() - killedAt} ms after A was killed`);

    for (const row of rows) {
      const calls = recorder.callsFor(row.requestId);
      const accepted = calls.filter((call) => call.accepted);
      assert.equal(accepted.length, 1, `${row.requestId}: the call step was delivered once (${calls.map((x) => x.worker).join(',')})`);
      assert.ok(['B', 'C'].includes(accepted[0]?.worker ?? ''));
      assert.ok(calls.length <= 2 && calls.every((call) => call.accepted || call.worker === 'A'), 'only A’s hung call besides it');
      assert.equal(accepted[0]?.code, sent.get(row.requestId), 'the call reads the SMS’s code');
      assert.equal(row.workflowStep, 1, 'no step begun twice: the row is at its call step');
      assert.deepEqual(parseSteps(row.steps ?? null).map((s) => [s.step, s.channel, s.outcome]), [[0, 'sms', 'sent'], [1, 'call', 'started']]);
      assert.ok(row.stepDueAt !== null && row.stepDueAt !== undefined, 'the third step stays scheduled');
    }
    assert.equal(recorder.overlaps.length, 0, 'no two deliveries of one row at once');
    t.diagnostic(`call steps delivered by B: ${recorder.calls.filter((x) => x.worker === 'B').length}, by C: ${recorder.calls.filter((x) => x.worker === 'C').length}`);
    assert.deepEqual(await stopWorker(b), { code: 0, signal: null });
    assert.deepEqual(await stopWorker(c), { code: 0, signal: null });
    assert.equal([...b.stderr, ...c.stderr].join(''), '', 'B and C logged no errors');
  });
});
