/**
 * Migration 0011 on every database: `otp_insights` gains the `step` key column (part of the primary
 * key) and keeps its existing rows, as step 1; the upsert then keeps steps apart and adds within
 * one; `down` folds later steps back into step 1 without losing a count.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ROLLUP_COUNTERS } from '../../lib/storage/insights-migration.js';
import { readRollups, upsertRollups, type RollupIncrement } from '../../lib/storage/insights-queries.js';
import { forEachDatabase } from '../helpers/db.js';
import { migrateUpTo, prefixedMigrations } from '../helpers/migrations.js';

const HOUR = Date.UTC(2026, 10, 25, 10, 0, 0);

forEachDatabase('migration 0011 (rollups by workflow step)', (db) => {
  it('keeps the rollup rows written before it, as step 1, and makes step part of the key', async () => {
    const { tables, config } = prefixedMigrations('m11');
    const knex = db().knex;
    // Up to 0010, as a kit before this change left its tables.
    await migrateUpTo(knex, config, '0010_otp_workflow');
    assert.equal(await knex.schema.hasColumn(tables.insights, 'step'), false);
    const counters = (requests: number, verified: number): Record<string, number> => ({ ...Object.fromEntries(ROLLUP_COUNTERS.map((c) => [c, 0])), requests, verified, delivered: requests });
    const old = [
      { grain: 'h', bucket: HOUR, country: 'BG', channel: 'sms', provider: 'Mada', purpose: 'login', ...counters(5, 3), updated_at: HOUR },
      { grain: 'd', bucket: Date.UTC(2026, 10, 25), country: 'BG', channel: 'sms', provider: 'Mada', purpose: 'login', ...counters(7, 4), updated_at: HOUR },
    ];
    await knex(tables.insights).insert(old);

    await knex.migrate.latest(config);
    const rows = (await knex(tables.insights).select().orderBy('grain')) as Array<Record<string, unknown>>;
    // 0012 then builds the compact daily ('c') and weekly ('w') rows from the daily one, as step 1 too.
    assert.deepEqual(rows.map((r) => [r.grain, Number(r.requests), Number(r.verified), Number(r.step)]), [['c', 7, 4, 1], ['d', 7, 4, 1], ['h', 5, 3, 1], ['w', 7, 4, 1]], 'the old rows are kept, as step 1');

    // The key now holds the step: step 2 is a row of its own, step 1 adds to the old row.
    const values = (requests: number, verified: number): number[] => ROLLUP_COUNTERS.map((c) => (c === 'requests' || c === 'delivered' ? requests : c === 'verified' ? verified : 0));
    const inc = (step: number, requests: number, verified: number): RollupIncrement => ({ grain: 'h', bucket: HOUR, country: 'BG', channel: 'sms', provider: 'Mada', purpose: 'login', step, values: values(requests, verified) });
    await upsertRollups(knex, tables, [inc(1, 1, 1), inc(2, 2, 1)], HOUR + 1);
    await upsertRollups(knex, tables, [inc(2, 1, 0)], HOUR + 2);
    const bySteps = await readRollups(knex, tables, { dims: ['step'], ranges: [['h', HOUR, HOUR + 3_600_000]] }, { rates: [], default: 0 });
    assert.deepEqual(bySteps.map((r) => [r.key.step, r.requests, r.verified]).sort(), [['1', 6, 4], ['2', 3, 1]]);
    const total = await readRollups(knex, tables, { dims: [], ranges: [['h', HOUR, HOUR + 3_600_000]] }, { rates: [], default: 0 });
    assert.deepEqual(total.map((r) => [r.requests, r.verified]), [[9, 5]], 'without `step` asked, the steps are summed');
    // A second row of the same key and step is refused: it is the primary key.
    await assert.rejects(knex(tables.insights).insert({ ...old[0], step: 2, updated_at: HOUR }));

    // Down (0015, 0014, 0013, 0012, then 0011) folds step 2 into step 1 (no count lost); up again works.
    await knex.migrate.down(config);
    await knex.migrate.down(config);
    await knex.migrate.down(config);
    await knex.migrate.down(config);
    await knex.migrate.down(config);
    assert.equal(await knex.schema.hasColumn(tables.insights, 'step'), false);
    const folded = (await knex(tables.insights).where({ grain: 'h' }).select()) as Array<Record<string, unknown>>;
    assert.deepEqual(folded.map((r) => [Number(r.requests), Number(r.verified)]), [[9, 5]]);
    await knex.migrate.latest(config);
    assert.equal(await knex.schema.hasColumn(tables.insights, 'step'), true);
  });
});
