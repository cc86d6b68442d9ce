/**
 * The end sweep reads only the rows that ended (migration 0012's index), claims them in one
 * statement per batch, and weekly rollups are built from the daily rows an older database holds.
 * - 1,500 live requests beside 40 ended ones: one sweep ends exactly the 40, each once, and the
 *   plan of each of its picks is a range of the `_ending_idx` index (MariaDB, SQLite; PostgreSQL
 *   with sequential scans off, since its planner scans so small a table);
 * - a database with daily rollups from before 0012 gets the same figures per week and per compact
 *   day afterwards: a query answers the same from weekly, compact or daily rows.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import type { Knex } from 'knex';
import { otpMigrationSource } from '../../lib/index.js';
import { ROLLUP_COUNTERS } from '../../lib/storage/insights-migration.js';
import { internalsOf } from '../../lib/service/internals.js';
import { sweepEnds } from '../../lib/service/request-ends.js';
import { forEachDatabase, type DbKind } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';

const DAY = 86_400_000;

function requestRow(n: number, state: 'live' | 'verified' | 'superseded' | 'capped' | 'expired', now: number): Record<string, unknown> {
  const created = state === 'live' ? now - 10_000 : now - 3_600_000;
  return {
    request_id: randomUUID(), phone: `+3598831${String(n).padStart(5, '0')}`, channel: 'sms', purpose: 'login', chain: 'Console', provider: 'Console',
    code_owner: 'kit', code_digest: 'x'.repeat(64), message_template: 'Your _APP_ code is _CODE_', status: 'sent', send_attempts: 1,
    verify_status: state === 'verified' ? 'verified' : state === 'superseded' ? 'superseded' : 'pending',
    attempts: state === 'capped' ? 5 : state === 'live' ? n % 5 : 0,
    verified_at: state === 'verified' ? created + 5_000 : null,
    expires_at: state === 'expired' ? now - 60_000 : created + 3_600_000 + 300_000,
    created_at: created, updated_at: state === 'capped' ? created + 1_000 : created,
  };
}

/** The plan of a statement, as text. */
async function planOf(knex: Knex, kind: DbKind, query: Knex.QueryBuilder): Promise<string> {
  const { sql, bindings } = query.toSQL();
  if (kind === 'mysql') {
    const [rows] = (await knex.raw(`explain ${sql}`, bindings)) as [Array<Record<string, unknown>>];
    return JSON.stringify(rows);
  }
  if (kind === 'sqlite') return JSON.stringify(await knex.raw(`explain query plan ${sql}`, bindings));
  return knex.transaction(async (trx) => {
    await trx.raw('set local enable_seqscan = off');
    const result = await trx.raw<{ rows: Array<Record<string, unknown>> }>(`explain ${sql.replace(/\$\d+/g, '?')}`, bindings);
    return JSON.stringify(result.rows);
  });
}

forEachDatabase('end sweep', (db, kind) => {
  it('ends only the 40 ended rows among 1,500 live ones, each once, along the ending index', async () => {
    const kit = await createTestKit(db());
    const now = Date.now();
    kit.clock.set(now);
    const knex = db().knex;
    const states = ['verified', 'superseded', 'capped', 'expired'] as const;
    const rows = [
      ...Array.from({ length: 1500 }, (_v, i) => requestRow(i, 'live', now)),
      ...Array.from({ length: 40 }, (_v, i) => requestRow(2000 + i, states[i % 4] ?? 'expired', now)),
    ];
    for (let i = 0; i < rows.length; i += 100) await knex('otp_requests').insert(rows.slice(i, i + 100));
    const deps = internalsOf(kit.otp);
    assert.equal(await sweepEnds(deps), 40);
    assert.equal(await sweepEnds(deps), 0, 'nothing twice');
    const ended = await knex('otp_requests').whereNotNull('ended_at').select('end_outcome', 'phone');
    assert.equal(ended.length, 40);
    const outcomes = ended.map((r: { end_outcome: string }) => r.end_outcome).sort();
    assert.deepEqual([...new Set(outcomes)].sort(), ['canceled:superseded', 'expired', 'max_attempts_reached', 'verified']);
    assert.ok(ended.every((r: { phone: string }) => r.phone >= '+359883102000'), 'no live row ended');
    const figures = await kit.otp.insights({ from: new Date(now - DAY), to: new Date(now + DAY) });
    assert.equal(figures.totals.requests, 40, 'each ended request counted once');

    const base = (): Knex.QueryBuilder => knex('otp_requests').select('id').whereNull('ended_at');
    const picks = [
      base().whereIn('verify_status', ['verified', 'superseded']),
      base().where('verify_status', 'pending').andWhere('attempts', '>=', 5).andWhere((w) => void w.where('updated_at', '<=', now).orWhere('expires_at', '<=', now)),
      base().where('verify_status', 'pending').whereIn('attempts', [0, 1, 2, 3, 4]).andWhere('expires_at', '<=', now),
    ];
    if (kind === 'mysql') await knex.raw('analyze table otp_requests');
    for (const pick of picks) assert.match(await planOf(knex, kind, pick), /otp_requests_ending_idx/, 'the pick reads the ending index');
    await kit.otp.close();
  });

  it('0012 builds weekly rollups from the daily rows of an older database; whole weeks answer the same either way', async () => {
    const tables = { requests: 'w_requests', limits: 'w_limits', failures: 'w_failures', webhooks: 'w_webhooks', holds: 'w_holds', insights: 'w_insights' };
    const config = { migrationSource: otpMigrationSource(tables), tableName: 'w_knex_migrations' };
    const knex = db().knex;
    // Up to the migration before 0012.
    for (;;) {
      const [, pending] = (await knex.migrate.list(config)) as [unknown, Array<{ file?: string; name?: string } | string>];
      const next = pending[0];
      const name = typeof next === 'string' ? next : (next?.name ?? next?.file ?? '');
      if (name === '' || name.startsWith('0012')) break;
      await knex.migrate.up(config);
    }
    // Daily rows as an older kit wrote them: 3 weeks (Monday 2026-11-02 .. Sunday 2026-11-22), two keys.
    const monday = Date.UTC(2026, 10, 2);
    const zero = Object.fromEntries(ROLLUP_COUNTERS.map((c) => [c, 0]));
    const daily = [];
    for (let d = 0; d < 21; d += 1) {
      for (const country of ['DE', 'BG']) daily.push({ ...zero, grain: 'd', bucket: monday + d * DAY, country, channel: 'sms', provider: 'Twilio', purpose: 'login', requests: d + 1, verified: d, delivered: d + 1, updated_at: monday });
    }
    await knex(tables.insights).insert(daily);
    await knex.migrate.latest(config);
    const weekly = await knex<Record<string, unknown>>(tables.insights).where('grain', 'w').orderBy(['bucket', 'country']).select('bucket', 'country', 'requests', 'verified');
    assert.deepEqual(
      weekly.map((r) => [Number(r.bucket), r.country, Number(r.requests), Number(r.verified)]),
      [0, 1, 2].flatMap((w) => ['BG', 'DE'].map((c) => [monday + w * 7 * DAY, c, 7 * w * 7 + 28, 7 * w * 7 + 21])),
    );
    const kit = await createTestKit(db(), { tables });
    const byWeek = await kit.otp.insights({ from: new Date(monday), to: new Date(monday + 21 * DAY), groupBy: ['country'] });
    const byDay = await kit.otp.insights({ from: new Date(monday), to: new Date(monday + 21 * DAY), groupBy: ['country', 'day', 'purpose'] });
    assert.equal(byWeek.totals.requests, 2 * ((21 * 22) / 2));
    assert.deepEqual(byWeek.totals, byDay.totals, 'weekly and daily rows agree');
    const compact = await kit.otp.insights({ from: new Date(monday), to: new Date(monday + 21 * DAY), groupBy: ['day'] });
    assert.deepEqual(compact.totals, byDay.totals, 'compact daily rows agree');
    assert.deepEqual(compact.groups.map((g) => [g.key.day, g.requests]), byDay.groups.filter((g) => g.key.country === 'DE').map((g) => [g.key.day, g.requests * 2]));
    const compactByCountry = await kit.otp.insights({ from: new Date(monday), to: new Date(monday + 21 * DAY), groupBy: ['country', 'day'] });
    assert.deepEqual(compactByCountry.groups.map((g) => [g.key.country, g.key.day, g.requests]).sort(), byDay.groups.map((g) => [g.key.country, g.key.day, g.requests]).sort(), 'compact rows keep the country');
    // A range that starts and ends mid-week: the days around the whole week come from daily rows.
    const mid = await kit.otp.insights({ from: new Date(monday + 3 * DAY), to: new Date(monday + 17 * DAY), groupBy: ['country'] });
    assert.equal(mid.totals.requests, 2 * [...Array(14).keys()].reduce((s, i) => s + i + 4, 0));
    await kit.otp.close();
  });
});
