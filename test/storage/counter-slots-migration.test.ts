/**
 * Migration 0013 on every database: the per-number send counters move into slots of one row
 * `n:<number>`, and the live windows of the old rows `sc:`, `sw:`, `sn:` come with them, so an
 * upgrade forgets no cooldown; dead old rows are not copied; `down` removes the slot columns; a run
 * that failed after its ALTER can run again.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createCounterSet } from '../../lib/limits/counters.js';
import { resolveLimits } from '../../lib/limits/config.js';
import { OtpEvents } from '../../lib/events.js';
import { silentLogger } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { migrateUpTo, prefixedMigrations } from '../helpers/migrations.js';

forEachDatabase('migration 0013 (per-number counters in one row)', (db) => {
  it('copies the live windows of the old rows into their slots; the cooldown still refuses after the upgrade', async () => {
    const { tables, config } = prefixedMigrations('m13');
    const knex = db().knex;
    await migrateUpTo(knex, config, '0012_otp_end_index_weekly_rollups');
    const now = Date.now();
    const [a, b] = ['+359871300001', '+359871300002'];
    await knex(tables.limits).insert([
      { key: `sc:${a}`, points: 1, expire: now + 50_000 },
      { key: `sw:${a}`, points: 1, expire: now + 20_000 },
      { key: `sn:${a}`, points: 3, expire: now + 500_000 },
      // b: the cooldown ended (not copied), sends per number live.
      { key: `sc:${b}`, points: 1, expire: now - 1 },
      { key: `sn:${b}`, points: 2, expire: now + 400_000 },
      { key: 'si:198.51.100.1', points: 4, expire: now + 100_000 },
    ]);
    await knex.migrate.latest(config);

    const rows = (await knex(tables.limits).where('key', 'like', 'n:%').orderBy('key').select()) as Array<Record<string, unknown>>;
    const shape = (r: Record<string, unknown>): unknown[] => [r.key, ...['points', 'expire', 'points_1', 'expire_1', 'points_2', 'expire_2', 'points_3', 'expire_3'].map((c) => (r[c] === null ? null : Number(r[c])))];
    assert.deepEqual(rows.map(shape), [
      [`n:${a}`, 0, now + 500_000, 1, now + 50_000, 1, now + 20_000, 3, now + 500_000],
      [`n:${b}`, 0, now + 400_000, 0, null, 0, null, 2, now + 400_000],
    ]);

    // The kit reads them: a's cooldown refuses, b's sends per number keeps its count.
    const limits = resolveLimits({});
    const set = createCounterSet(knex, { limits, tables, logger: silentLogger, batching: true }, new OtpEvents(silentLogger));
    const [cooldownA, perNumberB] = await set.take([set.named('sendCooldownSeconds', a, a), set.named('sendsPerNumber', b, b)]);
    assert.equal(cooldownA?.result.allowed, false, "a's cooldown from before the upgrade still holds");
    assert.equal(perNumberB?.result.consumed, 3);

    // Down 0015 (request records), 0014 (lock hints, nothing to undo), then 0013.
    await knex.migrate.down(config);
    await knex.migrate.down(config);
    await knex.migrate.down(config);
    assert.equal(await knex.schema.hasColumn(tables.limits, 'points_1'), false);
    // A run that failed after its ALTER (MySQL commits DDL at once) left the columns: the next run goes through.
    await knex.schema.alterTable(tables.limits, (table) => {
      for (const slot of [1, 2, 3]) {
        table.integer(`points_${slot}`).notNullable().defaultTo(0);
        table.bigInteger(`expire_${slot}`).nullable();
      }
    });
    await knex.migrate.latest(config);
    assert.equal(await knex.schema.hasColumn(tables.limits, 'points_1'), true);
  });
});
