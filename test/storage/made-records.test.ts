/**
 * Request records (migration 0015, lib/core/supersede-plan.ts): every request made for a number is
 * recorded on its `n:` row in the statement that takes its counters, and a send that finds no
 * record within a request's lifetime skips the supersede. One live request per number still holds:
 * for a safe-listed send racing a counted one, a test number, and sends close together.
 */
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import type { Knex } from 'knex';
import { OtpEvents } from '../../lib/events.js';
import { resolveLimits } from '../../lib/limits/config.js';
import { sleep } from '../../lib/limits/decoy-timing.js';
import { createCounterSet } from '../../lib/limits/counters.js';
import { silentLogger } from '../../lib/logger.js';
import { createCounterStore } from '../../lib/storage/counter-store.js';
import { DEFAULT_TABLES, migrateOtpTables } from '../../lib/storage/migrations.js';
import type { Otp } from '../../lib/index.js';
import { internalsOf } from '../../lib/service/internals.js';
import type { RequestStore } from '../../lib/storage/request-store.js';
import { forEachDatabase } from '../helpers/db.js';
import { migrateUpTo, prefixedMigrations } from '../helpers/migrations.js';
import { createTestKit } from '../helpers/kit.js';

const t = DEFAULT_TABLES;

async function numberRow(knex: Knex, phone: string): Promise<Record<string, unknown> | undefined> {
  return (await knex(t.limits).where('key', `n:${phone}`).first()) as Record<string, unknown> | undefined;
}

/** Supersede statements the knex instance runs from now on. */
function countSupersedes(tc: TestContext, knex: Knex): () => number {
  let n = 0;
  const count = (query: { sql?: string; bindings?: readonly unknown[] }): void => {
    if (/^update/i.test(query.sql ?? '') && (query.bindings ?? []).includes('superseded')) n += 1;
  };
  knex.on('query', count);
  tc.after(() => knex.off('query', count));
  return () => n;
}

async function pendingOf(knex: Knex, phone: string): Promise<{ pending: number[]; newest: number }> {
  const rows: Array<{ id: unknown; verify_status: unknown }> = await knex(t.requests).where({ phone }).select('id', 'verify_status');
  return { pending: rows.filter((r) => r.verify_status === 'pending').map((r) => Number(r.id)), newest: Math.max(...rows.map((r) => Number(r.id))) };
}

/** Delays every request insert of the kit (a slow connection, a pause): the interleavings the bound is for. */
function delayInserts(otp: Otp, ms: number): void {
  const store = internalsOf(otp).store as { insert: RequestStore['insert'] };
  const insert = store.insert.bind(store);
  store.insert = async (row) => {
    await sleep(ms);
    return insert(row);
  };
}

forEachDatabase('request records', (db) => {
  it('a take records the request on the number row with the database clock, and answers how long ago the one before was', async () => {
    await migrateOtpTables(db().knex);
    const set = createCounterSet(db().knex, { limits: resolveLimits({}), tables: t, logger: silentLogger, batching: true }, new OtpEvents(silentLogger));
    const phone = '+359871500001';
    const first = await set.takeMaking([set.named('sendsPerNumber', phone, phone)], phone, 600_000);
    assert.equal(first.made?.sinceMs, null, 'nothing recorded before');
    assert.equal(first.taken[0]?.result.consumed, 1);
    const row = await numberRow(db().knex, phone);
    assert.ok(Math.abs(Number(row?.made_at) - Date.now()) < 5_000, 'the database clock, in epoch ms');
    assert.equal(row?.made_before, null);
    assert.ok(Number(row?.expire) >= Date.now() + 590_000, 'the row is kept as long as the record counts');
    const second = await set.takeMaking([], phone, 600_000);
    assert.ok(second.made?.sinceMs !== null && second.made?.sinceMs !== undefined && second.made.sinceMs >= 0 && second.made.sinceMs < 5_000);
    assert.equal(Number((await numberRow(db().knex, phone))?.made_before), Number(row?.made_at));
    // Two requests of one number in one statement: the second learns the first was just made.
    const other = '+359871500002';
    const both = await Promise.all([set.takeMaking([], other, 600_000), set.takeMaking([], other, 600_000)]);
    assert.deepEqual(both.map((b) => b.made?.sinceMs).sort(), [0, null]);
  });

  it('only the rows that record a request get a record: counters sharing the statement keep none', async () => {
    await migrateOtpTables(db().knex);
    const set = createCounterSet(db().knex, { limits: resolveLimits({}), tables: t, logger: silentLogger, batching: true }, new OtpEvents(silentLogger));
    const [a, b] = ['+359871500011', '+359871500012'];
    // Concurrent takes share one upsert: a's number row records, b's number row and both IP rows do not.
    await Promise.all([
      set.takeMaking([set.named('sendsPerNumber', a, a), set.named('sendsPerIp', '203.0.113.7', '203.0.113.7')], a, 600_000),
      set.take([set.named('sendsPerNumber', b, b), set.named('sendsPerIp', '203.0.113.8', '203.0.113.8')]),
    ]);
    const rows: Array<{ key: string; made_at: unknown }> = await db().knex(t.limits).whereIn('key', [`n:${a}`, `n:${b}`]).orWhere('key', 'like', '%203.0.113.%').select('key', 'made_at');
    const recorded = Object.fromEntries(rows.map((r) => [r.key.startsWith('n:') ? r.key : 'ip ' + r.key.slice(-1), r.made_at !== null]));
    assert.deepEqual(recorded, { [`n:${a}`]: true, [`n:${b}`]: false, 'ip 7': false, 'ip 8': false });
  });

  it('the record is trusted only when read with the upsert: on MySQL without RETURNING it is written but not read (the send supersedes)', async () => {
    await migrateOtpTables(db().knex);
    const mysql = db().kind === 'mysql';
    // `returning: false` runs MySQL's path (upsert, then a read); elsewhere the upsert returns the row.
    const store = createCounterStore(db().knex, t.limits, mysql ? { returning: false } : {});
    const phone = '+359871500003';
    const answer = await store.takeMaking([], { rowKey: `n:${phone}`, keepMs: 600_000 });
    assert.deepEqual(answer.made, mysql ? undefined : { sinceMs: null });
    assert.ok(Number((await numberRow(db().knex, phone))?.made_at) > 0);
  });

  it("a number's first send runs no supersede; the next one, soon or later, leaves only itself pending", async (tc) => {
    const kit = await createTestKit(db());
    const supersedes = countSupersedes(tc, db().knex);
    const phone = '+359871500004';
    await kit.otp.sendSms(phone);
    assert.equal(supersedes(), 0, 'nothing older can be live: no supersede');
    await kit.otp.sendSms(phone); // usually within the insert bound of the first: waits, then supersedes
    assert.equal(supersedes(), 1);
    await sleep(300);
    await kit.otp.sendSms(phone); // past the bound: supersedes at once
    assert.equal(supersedes(), 2);
    const { pending, newest } = await pendingOf(db().knex, phone);
    assert.deepEqual(pending, [newest]);
    const code = kit.lastCode();
    assert.equal((await kit.otp.verify(phone, code)).codeValid, true);
  });

  it("a test number's request is recorded too: the next send supersedes it", async (tc) => {
    const phone = '+359871500005';
    const kit = await createTestKit(db(), { testNumbers: { numbers: [{ phone, code: '246810', validUntil: new Date(Date.UTC(2026, 10, 26)) }] } });
    const plain = await createTestKit(db());
    const supersedes = countSupersedes(tc, db().knex);
    await kit.otp.sendSms(phone);
    assert.equal(supersedes(), 0);
    await plain.otp.sendSms(phone);
    assert.equal(supersedes(), 1);
    const { pending, newest } = await pendingOf(db().knex, phone);
    assert.deepEqual(pending, [newest]);
  });

  it('a send made just after another waits for its insert: a slow insert within the bound is superseded by the later send', async () => {
    const [a, b] = [await createTestKit(db()), await createTestKit(db())];
    const phone = '+359871500006';
    delayInserts(a.otp, 150);
    const first = a.otp.sendSms(phone);
    await sleep(40); // a's take has recorded its request; its insert is still on the way
    await Promise.all([first, b.otp.sendSms(phone)]);
    const { pending, newest } = await pendingOf(db().knex, phone);
    assert.deepEqual(pending, [newest], 'b waited for a\'s insert, then superseded every request below the newest (its own)');
  });

  it('a send whose insert came later than the bound after its take supersedes, though it found no record before', async () => {
    const [a, b] = [await createTestKit(db()), await createTestKit(db())];
    const phone = '+359871500007';
    delayInserts(a.otp, 400);
    const first = a.otp.sendSms(phone);
    await sleep(40);
    await Promise.all([first, b.otp.sendSms(phone)]);
    const { pending, newest } = await pendingOf(db().knex, phone);
    assert.deepEqual(pending, [newest], "a's request is the newest and b's was superseded by it");
  });

  it('safe-listed sends racing a counted one through other instances leave only the newest request pending (30 rounds)', async () => {
    const limits = { sendCooldownSeconds: 60, channelSwitchCooldownSeconds: false, sendsPerNumber: false, sendsPerIp: false, sendsPerPrefix: false, sendsPerCountry: false, dailySendBudget: false, conversionBreaker: false } as const;
    const counted = await createTestKit(db(), { limits });
    const safe = [await createTestKit(db(), { limits, safeList: { ips: ['10.0.0.0/8'] } }), await createTestKit(db(), { limits, safeList: { ips: ['10.0.0.0/8'] } })];
    const broken: string[] = [];
    for (let round = 0; round < 30; round += 1) {
      const phone = `+35987157${String(round).padStart(4, '0')}`;
      const sends = [counted.otp.sendSms(phone, { ip: '203.0.113.9' }), ...Array.from({ length: 4 }, (_, i) => (safe[i % 2] ?? counted).otp.sendSms(phone, { ip: '10.0.0.1' }))];
      // Which send goes first varies: the counted one now before, now after the safe-listed ones.
      if (round % 2 === 1) sends.reverse();
      await Promise.all(sends);
      const { pending, newest } = await pendingOf(db().knex, phone);
      if (pending.length !== 1 || pending[0] !== newest) broken.push(`round ${round}: pending ${JSON.stringify(pending)}, newest ${newest}`);
    }
    assert.deepEqual(broken, []);
  });
});

forEachDatabase('request records migration (0015)', (db) => {
  it('records a request now for every number with a live pending request, and keeps its row until that request has expired', async () => {
    const { tables, config } = prefixedMigrations('m15');
    const knex = db().knex;
    await migrateUpTo(knex, config, '0014_otp_lock_hints');
    assert.equal(await knex.schema.hasColumn(tables.limits, 'made_at'), false);
    const now = Date.now();
    const [live, ended, verified, kept] = ['+359871500011', '+359871500012', '+359871500013', '+359871500014'];
    const base = { channel: 'sms', purpose: 'default', chain: '["Console"]', code_digest: 'x', message_template: 'OTP {code}', status: 'sent', created_at: now, updated_at: now };
    await knex(tables.requests).insert([
      { ...base, request_id: 'r-live-1', phone: live, verify_status: 'pending', expires_at: now + 200_000 },
      { ...base, request_id: 'r-live-2', phone: live, verify_status: 'pending', expires_at: now + 300_000 },
      { ...base, request_id: 'r-ended', phone: ended, verify_status: 'pending', expires_at: now - 1 },
      { ...base, request_id: 'r-verified', phone: verified, verify_status: 'verified', expires_at: now + 300_000 },
      { ...base, request_id: 'r-kept', phone: kept, verify_status: 'pending', expires_at: now + 100_000 },
    ]);
    // A row that outlives the request keeps its expiry and its slots.
    await knex(tables.limits).insert({ key: `n:${kept}`, points: 0, expire: now + 5_000_000, points_3: 2, expire_3: now + 5_000_000 });
    await knex.migrate.latest(config);
    const rowOf = async (phone: string): Promise<Record<string, unknown> | undefined> => (await knex(tables.limits).where('key', `n:${phone}`).first()) as Record<string, unknown> | undefined;
    const row = await rowOf(live);
    assert.ok(Math.abs(Number(row?.made_at) - Date.now()) < 5_000, 'recorded now, on the database clock');
    assert.equal(row?.made_before, null);
    assert.equal(Number(row?.expire), now + 300_000 + 600_000, 'kept until its newest live request has expired, plus ten minutes');
    assert.equal(await rowOf(ended), undefined);
    assert.equal(await rowOf(verified), undefined);
    const keptRow = await rowOf(kept);
    assert.deepEqual([Number(keptRow?.expire), Number(keptRow?.points_3), Number(keptRow?.made_at) > 0], [now + 5_000_000, 2, true]);
    // Down removes the columns; up again works.
    await knex.migrate.down(config);
    assert.equal(await knex.schema.hasColumn(tables.limits, 'made_at'), false);
    await knex.migrate.latest(config);
    assert.equal(await knex.schema.hasColumn(tables.limits, 'made_before'), true);
  });
});
