/**
 * Four worker processes share one retry table on MariaDB (security #36): 2,000 due rows plus 100
 * whose code already expired, a gateway that fails a third of the calls at random. Every row must
 * end sent, unsendable or expired; no row is delivered by two workers at once (the gateway watches
 * for a second call while one is in flight, and every row's calls must match its recorded
 * attempts exactly); no row stays leased; all four workers share the work.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createOtp, silentLogger, type Otp } from '../../lib/index.js';
import { toRequestRow } from '../../lib/storage/request-row.js';
import { startDeliveryRecorder, type DeliveryRecorder } from '../helpers/delivery-recorder.js';
import { createTestDatabase, DB_KINDS, type TestDatabase } from '../helpers/db.js';
import { TEST_SECRET } from '../helpers/kit.js';
import { recordingProvider } from '../helpers/providers.js';
import { insertDueRequest, spawnWorker, stopWorker, waitFor, type WorkerHandle } from '../helpers/worker-utils.js';

const DUE = 2000;
const EXPIRED = 100;
const WORKERS = ['w1', 'w2', 'w3', 'w4'];
const MAX_RETRIES = 3;
const skip = DB_KINDS.includes('mysql') ? false : 'MariaDB is not in OTP_TEST_DATABASES (start it at 127.0.0.1:3306 to run this test)';

describe('4 worker processes on MariaDB', { timeout: 90_000 }, () => {
  let db: TestDatabase;
  let otp: Otp;
  let recorder: DeliveryRecorder;
  const workers: WorkerHandle[] = [];

  before(async () => {
    if (skip !== false) return;
    db = await createTestDatabase('mysql', { max: 20 });
    otp = createOtp({ db: db.knex, secret: TEST_SECRET, providers: ['Recorder'], customProviders: [recordingProvider('Recorder')], logger: silentLogger, env: {} });
    await otp.migrate();
    recorder = await startDeliveryRecorder({
      decide: () => (randomInt(3) === 0 ? 'fail' : 'ok'),
      delayMs: () => randomInt(4),
    });
  });
  after(async () => {
    if (skip !== false) return;
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await recorder.close();
    await db.destroy();
  });

  it(`${DUE} due rows end sent, unsendable or expired; none sent twice at once; none left leased`, { skip, timeout: 80_000 }, async (t) => {
    const now = Date.now();
    const phones = Array.from({ length: DUE + EXPIRED }, (_, i) => `+3598830${String(i).padStart(5, '0')}`);
    const expiredIds = new Set<string>();
    for (let i = 0; i < phones.length; i += 50) {
      const rows = await Promise.all(
        phones.slice(i, i + 50).map((phone, j) => {
          const dead = i + j >= DUE;
          return insertDueRequest(otp, { phone, chain: ['Recorder'], now, ...(dead ? { expiresAt: now - 1 } : {}) }).then((r) => ({ ...r, dead }));
        }),
      );
      for (const r of rows) if (r.dead) expiredIds.add(r.requestId);
    }
    const inserted = Date.now();

    const env = {
      DATABASE_URL: db.url,
      OTP_SECRET: TEST_SECRET,
      RECORDER_URL: recorder.url,
      WORKER_SMS: JSON.stringify({ retry: true, maxRetries: MAX_RETRIES, baseDelayMs: 10, maxDelayMs: 100 }),
      WORKER_POLLER: JSON.stringify({ pollInterval: 20, batchSize: 20, concurrency: 16 }),
      WORKER_PROVIDER_TIMEOUT_MS: '5000',
    };
    workers.push(...(await Promise.all(WORKERS.map((name) => spawnWorker(name, env)))));
    const started = Date.now();

    await waitFor(
      'every row to reach a final state',
      async () => {
        const [{ n }] = (await db.knex('otp_requests').whereIn('status', ['sending', 'queued']).count({ n: '*' })) as [{ n: number | string }];
        return Number(n) === 0;
      },
      60_000,
      200,
    );
    const finished = Date.now();
    for (const w of workers) assert.deepEqual(await stopWorker(w), { code: 0, signal: null }, `${w.name} stops cleanly on SIGTERM`);

    const rows = (await db.knex('otp_requests').select()).map((r: Record<string, unknown>) => toRequestRow(r));
    assert.equal(rows.length, DUE + EXPIRED);
    const byStatus = new Map<string, number>();
    for (const row of rows) byStatus.set(row.status, (byStatus.get(row.status) ?? 0) + 1);
    const perWorker = WORKERS.map((w) => recorder.calls.filter((c) => c.worker === w).length);
    t.diagnostic(
      `inserted in ${inserted - now} ms; ${recorder.calls.length} gateway calls in ${finished - started} ms; ` +
        `statuses ${JSON.stringify(Object.fromEntries(byStatus))}; calls per worker ${perWorker.join('/')}`,
    );

    assert.deepEqual([...byStatus.keys()].filter((s) => !['sent', 'unsendable', 'expired'].includes(s)), [], 'only final states');
    assert.equal(recorder.overlaps.length, 0, `no row delivered by two workers at once: ${JSON.stringify(recorder.overlaps.slice(0, 3))}`);
    assert.ok(perWorker.every((n) => n > 0), 'all four workers took part');

    for (const row of rows) {
      assert.equal(row.leaseToken, null, 'no row stays leased');
      assert.equal(row.leaseExpiresAt, null);
      assert.equal(row.codeCipher, null, 'no sealed code is left behind');
      const calls = recorder.callsFor(row.requestId);
      if (expiredIds.has(row.requestId)) {
        assert.equal(row.status, 'expired', 'a row whose code expired is marked expired');
        assert.equal(calls.length, 0, 'and never sent');
        continue;
      }
      // Every provider call made for the row is one of its recorded attempts: a second worker's
      // call (whose result the lease fence would have thrown away) would show up here.
      assert.equal(calls.length, row.sendAttempts, `${row.requestId}: ${calls.length} calls for ${row.sendAttempts} attempts`);
      assert.equal(new Set(calls.map((c) => c.code)).size, 1, 'every attempt carries the same code');
      if (row.status === 'sent') {
        assert.deepEqual(calls.map((c) => c.accepted), [...calls.slice(1).map(() => false), true], 'failures, then one delivery');
        assert.equal(row.providerRef, `rec-${calls.at(-1)?.index}`);
      } else {
        assert.equal(row.status, 'unsendable');
        assert.equal(row.sendAttempts, 1 + MAX_RETRIES);
        assert.ok(calls.every((c) => !c.accepted));
      }
    }
  });
});
