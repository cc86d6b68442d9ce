/**
 * Issue 14: retention and the purge, on every database, with the kit's injected clock. Rows stay
 * until retention allows, then go in bounded batches; live traffic goes on during a purge;
 * `retention: false` purges nothing; the bundled poller purges on its interval; request ids are
 * 64-bit; provider payloads are kept only where they help; the status views and metrics keep
 * working on a purged table.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import express from 'express';
import request from 'supertest';
import { otpMetrics, otpMigrationSource, otpStatusRouter, type OtpProvider, type PurgeResult } from '../../lib/index.js';
import { ProviderError } from '../../lib/providers/provider-error.js';
import { forEachDatabase, type TestDatabase } from '../helpers/db.js';
import { createTestKit, type TestKit } from '../helpers/kit.js';

const DAY = 86_400_000;
const TTL_MS = 300_000;
const TOKEN_TTL_MS = 300_000;
const phone = (i: number): string => `+35988${String(1_000_000 + i).slice(-7)}`;

/** Counts the DELETE statements Knex sends to `table` while `work` runs. */
async function countDeletes<T>(db: TestDatabase, table: string, work: () => Promise<T>): Promise<{ result: T; deletes: number }> {
  let deletes = 0;
  const listener = (q: { sql?: string }): void => {
    if (typeof q.sql === 'string' && /^delete from [`"]?/i.test(q.sql) && q.sql.includes(table)) deletes += 1;
  };
  db.knex.on('query', listener);
  try {
    return { result: await work(), deletes };
  } finally {
    db.knex.removeListener('query', listener);
  }
}

/** Tests of a file share one database: each starts on empty kit tables. */
async function clean(kit: TestKit, db: TestDatabase): Promise<TestKit> {
  const { requests, limits, failures } = kit.otp.config.tables;
  for (const table of [requests, limits, failures]) await db.knex(table).del();
  return kit;
}

async function rowCount(db: TestDatabase, table: string): Promise<number> {
  const row = (await db.knex(table).count({ n: '*' }).first()) as { n: unknown } | undefined;
  return Number(row?.n ?? 0);
}

/** Copies one real request row `count` times with fresh ids, old enough to be purged (expired `ageMs` ago). */
async function seedOld(kit: TestKit, db: TestDatabase, count: number, ageMs: number): Promise<void> {
  const t = kit.otp.config.tables.requests;
  const template = (await db.knex(t).orderBy('id', 'desc').first()) as Record<string, unknown>;
  const { id: _id, ...rest } = template;
  const now = kit.clock.now();
  const rows = Array.from({ length: count }, (_v, i) => ({ ...rest, request_id: `old-${i}-${randomUUID().slice(0, 20)}`, phone: phone(500_000 + i), verify_status: 'superseded', expires_at: now - ageMs, created_at: now - ageMs - TTL_MS }));
  for (let k = 0; k < rows.length; k += 100) await db.knex(t).insert(rows.slice(k, k + 100));
}

forEachDatabase('retention and purge', (db, kind) => {
  it('keeps request rows until retention allows, then purges them in batches', async () => {
    const kit = await clean(await createTestKit(db(), { retention: { batchSize: 2, pauseMs: 0 } }), db());
    const t = kit.otp.config.tables.requests;
    for (let i = 0; i < 5; i += 1) await kit.otp.sendSms(phone(i));
    const verified = await kit.otp.verify(phone(4), kit.lastCode());
    assert.equal(verified.codeValid, true);
    await kit.otp.checkToken(verified.token ?? '');

    assert.deepEqual(await kit.otp.purge(), { requests: 0, failures: 0, limits: 0, webhooks: 0, insights: 0, complete: true });
    // Expiry + token lifetime + 30 days, less a minute: still kept.
    kit.clock.advance(TTL_MS + TOKEN_TTL_MS + 30 * DAY - 60_000);
    assert.equal((await kit.otp.purge()).requests, 0);
    assert.equal(await rowCount(db(), t), 5);

    kit.clock.advance(120_000);
    const { result, deletes } = await countDeletes(db(), t, () => kit.otp.purge());
    assert.equal(result.requests, 5);
    assert.equal(result.complete, true);
    assert.ok(deletes >= 3, `5 rows in batches of 2 take 3 statements (saw ${deletes})`);
    assert.equal(await rowCount(db(), t), 0);
  });

  it('maxBatches bounds a run; the next run goes on where it stopped', async () => {
    const kit = await clean(await createTestKit(db(), { retention: { batchSize: 3, pauseMs: 0 } }), db());
    await kit.otp.sendSms(phone(10));
    await seedOld(kit, db(), 10, 31 * DAY);
    const first = await kit.otp.purge({ maxBatches: 2 });
    assert.deepEqual(first, { requests: 6, failures: 0, limits: 0, webhooks: 0, insights: 0, complete: false });
    const rest = await kit.otp.purge();
    assert.equal(rest.requests, 4);
    assert.equal(await rowCount(db(), kit.otp.config.tables.requests), 1, 'the live row stays');
    await assert.rejects(() => kit.otp.purge({ maxBatches: 0 }), /option `maxBatches`/);
  });

  it('failure-budget rows go when their lock lapses or after 30 idle days; counters when their window ends', async () => {
    const kit = await clean(await createTestKit(db(), { retention: { pauseMs: 0 } }), db());
    const { failures, limits } = kit.otp.config.tables;
    const now = kit.clock.now();
    await db().knex(failures).insert([
      { phone: phone(20), failures: 100, locked_until: now + 1_000, updated_at: now },
      { phone: phone(21), failures: 3, locked_until: null, updated_at: now },
    ]);
    const wall = Date.now();
    await db().knex(limits).insert([
      { key: `sc:${phone(22)}`, points: 1, expire: wall - 1 },
      { key: `sn:${phone(22)}`, points: 2, expire: wall + 600_000 },
      { key: 'sg:global', points: 2, expire: null },
    ]);
    assert.deepEqual(await kit.otp.purge(), { requests: 0, failures: 0, limits: 1, webhooks: 0, insights: 0, complete: true });
    kit.clock.advance(1_000);
    assert.equal((await kit.otp.purge()).failures, 1, 'the lapsed lock');
    kit.clock.advance(30 * DAY);
    assert.equal((await kit.otp.purge()).failures, 1, 'the idle count');
    assert.equal(await rowCount(db(), failures), 0);
    assert.deepEqual((await db().knex(limits).orderBy('key').select('key')).map((r: { key: string }) => r.key), ['sg:global', `sn:${phone(22)}`]);
  });

  it('a verify and a guard check work for live rows while a purge runs', async () => {
    const kit = await clean(await createTestKit(db(), { retention: { batchSize: 50, pauseMs: 5 } }), db());
    await kit.otp.sendSms(phone(30));
    await seedOld(kit, db(), 1_500, 40 * DAY);
    let purgeDone = false;
    let sawBatch: () => void = () => undefined;
    const firstBatch = new Promise<void>((resolve) => (sawBatch = resolve));
    const listener = (q: { sql?: string }): void => {
      if (typeof q.sql === 'string' && /^delete/i.test(q.sql)) sawBatch();
    };
    db().knex.on('query', listener);
    const running = kit.otp.purge().then((r: PurgeResult) => {
      purgeDone = true;
      return r;
    });
    await firstBatch;
    db().knex.removeListener('query', listener);
    const sent = await kit.otp.sendSms(phone(31));
    const verified = await kit.otp.verify(phone(31), kit.lastCode());
    assert.equal(verified.codeValid, true);
    const guard = await kit.otp.checkToken(verified.token ?? '');
    assert.equal(guard.requestId, sent.requestId);
    assert.equal(purgeDone, false, 'the purge was still running');
    assert.equal((await running).requests, 1_500);
    assert.equal(await rowCount(db(), kit.otp.config.tables.requests), 2);
  });

  it('instances purging at once share the work: every row deleted once, no error', async () => {
    const kit = await clean(await createTestKit(db(), { retention: { batchSize: 40, pauseMs: 0 } }), db());
    const other = await createTestKit(db(), { retention: { batchSize: 40, pauseMs: 0 } });
    await kit.otp.sendSms(phone(35));
    await seedOld(kit, db(), 600, 40 * DAY);
    other.clock.set(kit.clock.now());
    const results = await Promise.all([kit.otp.purge(), other.otp.purge(), kit.otp.purge()]);
    assert.equal(results.reduce((n, r) => n + r.requests, 0), 600);
    assert.equal(await rowCount(db(), kit.otp.config.tables.requests), 1);
  });

  it('retention: false purges nothing', async () => {
    const kit = await clean(await createTestKit(db(), { retention: false }), db());
    await kit.otp.sendSms(phone(40));
    await seedOld(kit, db(), 20, 400 * DAY);
    await db().knex(kit.otp.config.tables.limits).insert({ key: `sc:${phone(41)}`, points: 1, expire: Date.now() - 1 });
    kit.clock.advance(365 * DAY);
    assert.deepEqual(await kit.otp.purge(), { requests: 0, failures: 0, limits: 0, webhooks: 0, insights: 0, complete: true });
    assert.equal(await rowCount(db(), kit.otp.config.tables.requests), 21);
    // The old counter row, and the send's request record (`n:` + its number, migration 0015).
    assert.equal(await rowCount(db(), kit.otp.config.tables.limits), 2);
  });

  it('the bundled poller purges on its interval, emits `purged` and metrics count the rows; status views work on a purged table', async () => {
    const kit = await clean(await createTestKit(db(), { retention: { pauseMs: 0 } }), db());
    await kit.otp.sendSms(phone(50));
    await seedOld(kit, db(), 7, 60 * DAY);
    const metrics = otpMetrics(kit.otp);
    const purged = new Promise<{ requests: number }>((resolve) => kit.otp.events.once('purged', resolve));
    const poller = kit.otp.startRetryPoller({ pollInterval: 50, purgeInterval: 30 });
    try {
      assert.equal((await purged).requests, 7);
    } finally {
      await poller.stop();
    }
    assert.match(await metrics.registry.metrics(), /otp_purged_rows_total\{table="requests"\} 7/);
    const app = express().use('/admin', otpStatusRouter(kit.otp));
    const listed = await request(app).get('/admin/requests');
    assert.equal(listed.status, 200);
    assert.equal((listed.body as { requests: unknown[] }).requests.length, 1);
    assert.equal((await request(app).get('/admin/retry-queue')).status, 200);
    metrics.stop();
    assert.throws(() => kit.otp.startRetryPoller({ purgeInterval: 1 }), /purgeInterval/);
  });

  it('request ids are 64-bit integers', async () => {
    const kit = await clean(await createTestKit(db()), db());
    const t = kit.otp.config.tables.requests;
    const big = 5_000_000_000;
    if (kind === 'mysql') await db().knex.raw(`ALTER TABLE ?? AUTO_INCREMENT = ${big}`, [t]);
    else if (kind === 'postgres') await db().knex.raw('SELECT setval(pg_get_serial_sequence(?, ?), ?)', [t, 'id', big]);
    else {
      await kit.otp.sendSms(phone(60));
      await db().knex(t).where({ phone: phone(60) }).update({ id: big });
    }
    await kit.otp.sendSms(phone(61));
    const row = await db().knex(t).where({ phone: phone(61) }).first<{ id: unknown }>('id');
    assert.ok(Number(row.id) > 2 ** 32, `id ${String(row.id)}`);
    assert.equal((await kit.otp.verify(phone(61), kit.lastCode())).codeValid, true);
  });

  it('0003_otp_lifecycle (and the migrations after it) migrate existing tables with their rows', async () => {
    const tables = { requests: 'legacy_requests', limits: 'legacy_limits', failures: 'legacy_failures', webhooks: 'legacy_webhooks', holds: 'legacy_holds', insights: 'legacy_insights' };
    const config = { migrationSource: otpMigrationSource(tables), tableName: 'legacy_knex_migrations' };
    await db().knex.migrate.up(config);
    await db().knex.migrate.up(config);
    // A row as the kit wrote it before 0003 (the 0001 columns only).
    const now = Date.now();
    await db().knex(tables.requests).insert({
      request_id: '00000000-0000-4000-8000-000000000001', phone: phone(81), channel: 'sms', purpose: 'default', chain: 'Console', code_owner: 'kit',
      code_digest: 'd'.repeat(64), code_cipher: null, message_template: 'Your _APP_ code is _CODE_', status: 'sent', send_attempts: 1,
      verify_status: 'pending', attempts: 0, expires_at: now + 300_000, created_at: now, updated_at: now,
    });
    await db().knex.migrate.latest(config);
    assert.equal(await rowCount(db(), tables.requests), 1, 'the old row is kept');
    // The kit then works on the migrated tables.
    const kit = await createTestKit(db(), { tables });
    await kit.otp.sendSms(phone(80));
    assert.equal(await rowCount(db(), tables.requests), 2);
    assert.equal((await kit.otp.verify(phone(80), kit.lastCode())).codeValid, true);
    if (kind === 'mysql') {
      const [columns] = (await db().knex.raw("SHOW COLUMNS FROM legacy_requests WHERE Field = 'id'")) as [Array<{ Type: string }>];
      assert.match(columns[0]?.Type ?? '', /^bigint/);
    } else if (kind === 'postgres') {
      const types = await db().knex.raw<{ rows: Array<{ data_type: string }> }>("SELECT data_type FROM information_schema.columns WHERE table_name = 'legacy_requests' AND column_name = 'id'");
      assert.equal(types.rows[0]?.data_type, 'bigint');
    }
  });

  it('keeps the redacted provider payloads only of deliveries that needed a retry or failover', async () => {
    let failNext = false;
    const provider: OtpProvider = {
      name: 'Payload',
      channels: ['sms', 'call'],
      ownsCode: false,
      send(input) {
        if (failNext) {
          failNext = false;
          return Promise.reject(new ProviderError({ provider: 'Payload', kind: 'network', retryable: true, message: 'reset' }));
        }
        return Promise.resolve({ ref: `p-${input.requestId}`, request: { to: 'masked' }, response: { accepted: true } });
      },
    };
    const options = { providers: ['Payload'], customProviders: [provider], sms: { retry: true, baseDelayMs: 10, maxDelayMs: 10 } };
    const kit = await clean(await createTestKit(db(), options), db());
    const t = kit.otp.config.tables.requests;
    const plain = await kit.otp.sendSms(phone(70));
    assert.deepEqual(await db().knex(t).where({ request_id: plain.requestId }).first('provider_request', 'provider_response'), { provider_request: null, provider_response: null });
    failNext = true;
    const retried = await kit.otp.sendSms(phone(71));
    assert.equal(retried.status, 'queued');
    kit.clock.advance(1_000);
    const poller = kit.otp.startRetryPoller({ pollInterval: 10, purgeInterval: false });
    try {
      const status = async (): Promise<string | undefined> => (await db().knex(t).where({ request_id: retried.requestId }).first<{ status: string } | undefined>('status'))?.status;
      for (let i = 0; i < 200 && (await status()) !== 'sent'; i += 1) await new Promise((r) => setTimeout(r, 10));
    } finally {
      await poller.stop();
    }
    const kept = await db().knex(t).where({ request_id: retried.requestId }).first<{ status: string; provider_request: string | null }>('status', 'provider_request');
    assert.deepEqual(kept, { status: 'sent', provider_request: '{"to":"masked"}' });
    const always = await clean(await createTestKit(db(), { ...options, retention: { providerPayloads: 'always' } }), db());
    const logged = await always.otp.sendSms(phone(72));
    assert.equal((await db().knex(t).where({ request_id: logged.requestId }).first<{ provider_request: string }>('provider_request')).provider_request, '{"to":"masked"}');
  });
});
