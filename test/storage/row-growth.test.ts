/**
 * A request row never grows after its code is verified or replaced. On InnoDB an UPDATE that makes
 * a row longer cannot reuse the row's own space and often reorganizes its whole page: before this,
 * a verify reorganized 0.34 pages and the end sweep 0.52 pages per row, three quarters of the
 * verify's redo and nine tenths of the sweep's (docs/benchmarks.md). The consume and the
 * supersede replace the code's digest with SPENT_DIGEST (half its length), the end sweep clears it,
 * which more than pays for what each step fills in. On every database: the digest at each step and
 * the row's stored size (NULL: nothing; text: its bytes; a number: 8). On MariaDB: InnoDB's own
 * count of page reorganizations during many verifies and one end sweep.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Knex } from 'knex';
import { internalsOf } from '../../lib/service/internals.js';
import { sweepEnds } from '../../lib/service/request-ends.js';
import { SPENT_DIGEST, SPENT_DIGEST_PATTERN } from '../../lib/storage/request-row.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit, type TestKit } from '../helpers/kit.js';

const phoneOf = (i: number): string => `+359872${String(1_000_000 + i).slice(1)}`;

/** The row's size as a row store keeps it, up to fixed parts that no update changes. */
function storedSize(row: Record<string, unknown>): number {
  let size = 0;
  for (const value of Object.values(row)) {
    if (value === null || value === undefined) continue;
    size += typeof value === 'string' ? Buffer.byteLength(value) : Buffer.isBuffer(value) ? value.length : 8;
  }
  return size;
}

async function rowOf(kit: TestKit, knex: Knex, phone: string): Promise<Record<string, unknown>> {
  return (await knex(kit.otp.config.tables.requests).where({ phone }).orderBy('id', 'desc').first()) as Record<string, unknown>;
}

forEachDatabase('request rows never grow once their code is spent', (db, kind) => {
  it('verified, superseded and expired rows: the digest is spent then cleared, and no step makes the row longer', async () => {
    const kit = await createTestKit(db());
    const knex = db().knex;
    const [verified, superseded, expired] = [phoneOf(1), phoneOf(2), phoneOf(3)];

    await kit.otp.sendSms(verified);
    const sent = await rowOf(kit, knex, verified);
    assert.match(String(sent.code_digest), /^[0-9a-f]{64}$/);
    assert.equal((await kit.otp.verify(verified, kit.lastCode())).codeValid, true);
    const consumed = await rowOf(kit, knex, verified);
    assert.match(String(consumed.code_digest), SPENT_DIGEST_PATTERN);
    assert.ok(storedSize(consumed) <= storedSize(sent), `verify grew the row: ${storedSize(sent)} → ${storedSize(consumed)}`);

    await kit.otp.sendSms(superseded);
    const older = await rowOf(kit, knex, superseded);
    await kit.otp.sendSms(superseded);
    const replaced = (await knex(kit.otp.config.tables.requests).where({ id: older.id }).first()) as Record<string, unknown>;
    assert.equal(replaced.verify_status, 'superseded');
    assert.equal(replaced.code_digest, SPENT_DIGEST);
    assert.ok(storedSize(replaced) <= storedSize(older), `supersede grew the row: ${storedSize(older)} → ${storedSize(replaced)}`);

    await kit.otp.sendSms(expired);
    const live = await rowOf(kit, knex, expired);
    kit.clock.advance(3_600_000);
    const before = new Map<unknown, Record<string, unknown>>();
    for (const row of (await knex(kit.otp.config.tables.requests).whereIn('phone', [verified, superseded, expired]).select()) as Array<Record<string, unknown>>) before.set(row.id, row);
    assert.ok((await sweepEnds(internalsOf(kit.otp))) >= 4);
    const ended = (await knex(kit.otp.config.tables.requests).whereIn('phone', [verified, superseded, expired]).select()) as Array<Record<string, unknown>>;
    assert.equal(ended.length, 4);
    for (const row of ended) {
      assert.ok(row.ended_at !== null, `request ${String(row.id)} ended`);
      assert.equal(row.code_digest, '', 'an ended request keeps no digest');
      const was = before.get(row.id) as Record<string, unknown>;
      assert.ok(storedSize(row) <= storedSize(was), `the end of ${String(row.end_outcome)} grew the row: ${storedSize(was)} → ${storedSize(row)}`);
    }
    assert.ok(storedSize(ended.find((r) => r.id === live.id) as Record<string, unknown>) <= storedSize(live));
  });

  if (kind !== 'mysql') return;
  it('MariaDB: many verifies and their end sweep reorganize (almost) no page', { timeout: 60_000 }, async () => {
    const kit = await createTestKit(db(), { limits: false });
    const knex = db().knex;
    await knex(kit.otp.config.tables.requests).del();
    await knex.raw("SET GLOBAL innodb_monitor_enable = 'index_page_reorg_attempts'");
    const reorgs = async (): Promise<number> => {
      const [rows] = (await knex.raw("SELECT `count` AS n FROM information_schema.innodb_metrics WHERE name = 'index_page_reorg_attempts'")) as [Array<{ n: unknown }>];
      return Number(rows[0]?.n);
    };
    const count = 600;
    const codes: Array<[string, string]> = [];
    for (let i = 0; i < count; i += 1) {
      await kit.otp.sendSms(phoneOf(100 + i));
      codes.push([phoneOf(100 + i), kit.lastCode()]);
    }
    let start = await reorgs();
    for (const [phone, code] of codes) assert.equal((await kit.otp.verify(phone, code)).codeValid, true);
    const verifying = (await reorgs()) - start;
    start = await reorgs();
    assert.equal(await sweepEnds(internalsOf(kit.otp)), count);
    const sweeping = (await reorgs()) - start;
    // Before: about 0.34 a verify and 0.52 a swept row (200 and 310 here).
    assert.ok(verifying < count * 0.05, `${verifying} page reorganizations for ${count} verifies`);
    assert.ok(sweeping < count * 0.05, `${sweeping} page reorganizations for a sweep of ${count} rows`);
  });
});
