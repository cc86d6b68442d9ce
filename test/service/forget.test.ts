/**
 * Issue 14: `otp.forget(phone)` (a data-subject request) on every database. Afterwards no column
 * of any table holds the number, its pending retry is never sent, and a row already claimed by a
 * delivery is fenced off before it reaches a provider.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Knex } from 'knex';
import { deliver } from '../../lib/delivery/deliver.js';
import { internalsOf } from '../../lib/service/internals.js';
import { claimDueRequests } from '../../lib/storage/retry-queries.js';
import { forEachDatabase, type DbKind } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';
import { recordingProvider } from '../helpers/providers.js';

const A = '+359871234567';
const B = '+359889876543';

async function tableNames(knex: Knex, kind: DbKind): Promise<string[]> {
  if (kind === 'sqlite') return (await knex.raw<{ name: string }[]>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")).map((r) => r.name);
  if (kind === 'mysql') return ((await knex.raw<[Record<string, string>[]]>('SHOW TABLES'))[0] ?? []).map((r) => Object.values(r)[0] ?? '');
  return (await knex.raw<{ rows: { tablename: string }[] }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).rows.map((r) => r.tablename);
}

/** Every non-null cell of every table in the database, as `table.column=text`. */
async function dumpAll(knex: Knex, kind: DbKind): Promise<string[]> {
  const cells: string[] = [];
  for (const table of await tableNames(knex, kind)) {
    for (const row of (await knex(table).select()) as Record<string, unknown>[]) {
      for (const [column, value] of Object.entries(row)) {
        if (value === null || value === undefined) continue;
        const text = Buffer.isBuffer(value) ? value.toString('utf8') : typeof value === 'string' ? value : JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
        cells.push(`${table}.${column}=${text}`);
      }
    }
  }
  return cells;
}

const traces = (cells: readonly string[], phone: string): string[] => cells.filter((c) => c.includes(phone.slice(1)) || c.includes(phone.slice(-7)));

forEachDatabase('forget a number', (db, kind) => {
  it('leaves no trace of the number in any column of any table and cancels its pending retry', async () => {
    const flaky = recordingProvider('Flaky');
    flaky.plan = ['retryable', 'ok'];
    const kit = await createTestKit(db(), { limits: {}, providers: ['Flaky'], customProviders: [flaky], sms: { retry: true, baseDelayMs: 1_000, maxDelayMs: 1_000 } });
    const queued = await kit.otp.sendSms(A, { ip: '198.51.100.7' });
    assert.equal(queued.status, 'queued');
    for (const wrong of ['000000', '000001']) assert.equal((await kit.otp.verify(A, wrong, { ip: '198.51.100.7' })).codeValid, false);
    assert.equal((await kit.otp.sendSms(B, { ip: '198.51.100.8' })).status, 'sent');
    const tablesWith = new Set(traces(await dumpAll(db().knex, kind), A).map((cell) => cell.split('.')[0]));
    for (const table of ['otp_requests', 'otp_failures', 'otp_limits']) assert.ok(tablesWith.has(table), `the number is in ${table}`);

    const forgotten: unknown[] = [];
    kit.otp.events.on('forgotten', (e) => forgotten.push(e));
    const result = await kit.otp.forget(A);
    assert.equal(result.requests, 1);
    assert.equal(result.cancelled, 1);
    assert.equal(result.failures, 1);
    assert.ok(result.limits >= 2, `the per-number send counters' row and vl at least (got ${result.limits})`);
    assert.deepEqual(forgotten, [{ phone: '+35987*****67', requests: 1, cancelled: 1, failures: 1, limits: result.limits }]);

    const after = await dumpAll(db().knex, kind);
    assert.deepEqual(traces(after, A), []);
    assert.ok(traces(after, B).length > 0, 'the scan does see the other number');

    // The retry that was pending is never sent.
    const calls = flaky.calls.length;
    kit.clock.advance(5_000);
    const poller = kit.otp.startRetryPoller({ pollInterval: 10, purgeInterval: false });
    await new Promise((resolve) => setTimeout(resolve, 150));
    await poller.stop();
    assert.equal(flaky.calls.filter((c) => c.phone === A).length, 1, 'only the first attempt before forget');
    assert.equal(flaky.calls.length, calls);
    // Formatting does not matter, and a second forget finds nothing.
    assert.deepEqual(await kit.otp.forget('+359 87 123 4567'), { requests: 0, cancelled: 0, leased: 0, failures: 0, limits: 0, webhooks: 0 });
    await assert.rejects(() => kit.otp.forget('12'), /phone/);
  });

  it('a row claimed by an in-flight delivery is not sent after forget (lease fencing)', async () => {
    const flaky = recordingProvider('Flaky');
    flaky.plan = ['retryable', 'ok'];
    const kit = await createTestKit(db(), { providers: ['Flaky'], customProviders: [flaky], sms: { retry: true, baseDelayMs: 1_000, maxDelayMs: 1_000 } });
    await kit.otp.sendSms(A);
    kit.clock.advance(5_000);
    const deps = internalsOf(kit.otp);
    const claim = await claimDueRequests(db().knex, kit.otp.config.tables, { now: kit.clock.now(), leaseMs: 30_000, limit: 10, owner: 'test' });
    const row = claim.rows.find((r) => r.phone === A);
    assert.ok(row !== undefined, 'the retry was claimed');
    const result = await kit.otp.forget(A);
    assert.equal(result.cancelled, 1);
    assert.equal(result.leased, 1);
    const outcome = await deliver(deps.delivery, row, claim.leaseToken);
    assert.equal(outcome.status, 'lost-lease');
    assert.equal(flaky.calls.length, 1, 'no second call to the provider');
  });
});
