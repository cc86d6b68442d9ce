/**
 * 0012: the end sweep reads only rows that ended, and long insight ranges read weekly rollups.
 *
 * - The request table's `(ended_at, expires_at)` index becomes `(ended_at, verify_status,
 *   attempts, expires_at)`: the sweep's three picks (no longer pending; at the attempt cap;
 *   pending and expired) are index ranges, where the old index made it read every live request.
 * - Weekly rollup rows (grain 'w', Monday 00:00 UTC) and compact daily rows (grain 'c': country,
 *   channel and provider only) are built from the daily rows already there, so queries over the past find
 *   them; new ends write all four grains (lib/core/insights.ts rollupRanges reads them).
 */
import type { Knex } from 'knex';
import { dialectOf } from './db.js';
import { ROLLUP_COUNTERS, ROLLUP_KEY } from './insights-migration.js';
import type { LaterMigration } from './migrations-later.js';

const DAY_MS = 86_400_000;

export function endIndexMigration(t: { readonly requests: string; readonly insights: string }): LaterMigration {
  return {
    name: '0012_otp_end_index_weekly_rollups',
    async up(knex) {
      await knex.schema.alterTable(t.requests, (table) => {
        table.dropIndex(['ended_at', 'expires_at'], `${t.requests}_ended_idx`);
        table.index(['ended_at', 'verify_status', 'attempts', 'expires_at'], `${t.requests}_ending_idx`);
      });
      await backfill(knex, t.insights);
    },
    async down(knex) {
      await knex(t.insights).whereIn('grain', ['w', 'c']).del();
      await knex.schema.alterTable(t.requests, (table) => {
        table.dropIndex(['ended_at', 'verify_status', 'attempts', 'expires_at'], `${t.requests}_ending_idx`);
        table.index(['ended_at', 'expires_at'], `${t.requests}_ended_idx`);
      });
    },
  };
}

/**
 * Two INSERT … SELECTs over the daily rows: summed per week (Monday start, lib/core/insights.ts
 * weekOf) and key, and per day, country, channel and provider (purpose '', step 1).
 */
async function backfill(knex: Knex, table: string): Promise<void> {
  const q = (name: string): string => (dialectOf(knex) === 'mysql' ? `\`${name}\`` : `"${name}"`);
  const columns = [...ROLLUP_KEY, ...ROLLUP_COUNTERS, 'updated_at'].map(q).join(', ');
  const sums = [...ROLLUP_COUNTERS.map((c) => `sum(${q(c)})`), `max(${q('updated_at')})`].join(', ');
  const grains = [
    { grain: 'w', bucket: `(${q('bucket')} - ((${q('bucket')} - ${4 * DAY_MS}) % ${7 * DAY_MS}))`, kept: ROLLUP_KEY.filter((c) => c !== 'grain' && c !== 'bucket') },
    { grain: 'c', bucket: q('bucket'), kept: ['country', 'channel', 'provider'] },
  ];
  for (const { grain, bucket, kept } of grains) {
    // Compact rows keep country, channel and provider: purpose '', step 1.
    const keyExprs = ROLLUP_KEY.filter((c) => c !== 'grain' && c !== 'bucket').map((c) => (kept.includes(c) ? q(c) : c === 'step' ? '1' : "''"));
    const groupBy = [bucket, ...kept.map(q)].join(', ');
    await knex.raw(`insert into ${q(table)} (${columns}) select '${grain}', ${bucket}, ${keyExprs.join(', ')}, ${sums} from ${q(table)} where ${q('grain')} = 'd' group by ${groupBy}`);
  }
}
