/**
 * Audit 19.6: a counter row locked elsewhere (an operator's transaction, a sweep, another
 * instance) must not stall the sends of other numbers. MariaDB and PostgreSQL (row locks); SQLite
 * locks the whole database file, so there is no one row to hold there.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { counterRowKey } from '../../lib/storage/counter-store.js';
import { DEFAULT_TABLES } from '../../lib/storage/migrations.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';

const HOLD_MS = 6_000;

forEachDatabase('audit 19.6: one locked counter row', (db, kind) => {
  if (kind === 'sqlite') return;
  it(`under a ${HOLD_MS / 1000} s lock on one number's counter row, sends for other numbers answer in under 1 s`, { timeout: 30_000 }, async () => {
    const kit = await createTestKit(db(), { limits: { sendsPerPrefix: { max: 1000 }, sendsPerIp: { max: 1000, windowSeconds: 300 } } });
    const locked = '+359871800000';
    // The number's row of per-number send counters (slots, lib/limits/keys.ts).
    const key = counterRowKey('n', locked);
    await db().knex(DEFAULT_TABLES.limits).insert({ key, points: 0, expire: Date.now() + 600_000 });
    const trx = await db().knex.transaction();
    let blocked: Promise<number> | undefined;
    try {
      await trx(DEFAULT_TABLES.limits).where({ key }).update({ points: 0 });
      const held = Date.now();
      blocked = kit.otp.sendSms(locked, { ip: '203.0.113.200' }).then(() => Date.now() - held);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const others = await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const started = Date.now();
          const sent = await kit.otp.sendSms(`+3598718000${String(i + 1).padStart(2, '0')}`, { ip: `203.0.113.${i + 1}` });
          return { status: sent.status, ms: Date.now() - started };
        }),
      );
      for (const o of others) {
        assert.equal(o.status, 'sent');
        assert.ok(o.ms < 1_000, `a send for another number took ${o.ms} ms while one row was locked`);
      }
      await new Promise((resolve) => setTimeout(resolve, HOLD_MS - (Date.now() - held)));
      await trx.commit();
      const waited = await blocked;
      assert.ok(waited >= HOLD_MS - 100, `the send for the locked number waited for its row (${waited} ms)`);
    } finally {
      if (!trx.isCompleted()) await trx.rollback();
      await blocked?.catch(() => undefined);
    }
  });
});
