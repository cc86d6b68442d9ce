/**
 * One live request per number across instances: sends of one number through four instances at
 * once, with nothing to keep them apart (no limits, as for a safe-listed number), leave exactly the
 * newest request pending. Each instance group-commits its own sends, so their inserts and supersedes
 * race across connections. On PostgreSQL an UPDATE does not see an insert that commits after it
 * began: "older than my own id" left two pending in about 3.5 % of such rounds, "older than the
 * number's newest" leaves one (lib/storage/request-queries.ts, `supersedeOlderMany`). Every send
 * here is recorded on the number's row (migration 0015): the first of a round may skip its supersede
 * and the others wait for its insert (lib/core/supersede-plan.ts), so a round takes about 250 ms.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Otp } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';

forEachDatabase('one live request per number across instances', (db) => {
  it('150 rounds of 20 parallel sends of one number through four instances: the newest request alone stays pending', async () => {
    const otps: Otp[] = [];
    for (let i = 0; i < 4; i += 1) otps.push((await createTestKit(db())).otp);
    const t = otps[0]?.config.tables;
    assert.ok(t !== undefined);
    const sendThrough = (i: number, phone: string): Promise<unknown> => (otps[i % otps.length] ?? otps[0])?.sendSms(phone) ?? Promise.reject(new Error('no instance'));
    const broken: string[] = [];
    for (let round = 0; round < 150; round += 1) {
      const phone = `+35987156${String(round).padStart(4, '0')}`;
      await Promise.all(Array.from({ length: 20 }, (_, i) => sendThrough(i, phone)));
      const rows: Array<{ id: unknown; verify_status: unknown }> = await db().knex(t.requests).where({ phone }).select('id', 'verify_status');
      const pending = rows.filter((r) => r.verify_status === 'pending').map((r) => Number(r.id));
      const newest = Math.max(...rows.map((r) => Number(r.id)));
      if (pending.length !== 1 || pending[0] !== newest) broken.push(`round ${round}: pending ${JSON.stringify(pending)}, newest ${newest}`);
    }
    assert.deepEqual(broken, []);
  });
});
