/**
 * 0008: the end of each request (`ended_at`, `end_outcome` on the request table: the claim that
 * makes every request end exactly once) and the insight rollups (`otp_insights`): counters per
 * hour and per day, destination country, channel, provider and purpose. No number, code, token or
 * IP is stored there, so the rollups outlive `purge()` and `forget()` (their own retention).
 *
 * Rows that exist before this migration are marked as ended (`ended_at` 0): they were never counted
 * and send no end event. PostgreSQL and MariaDB add the column with a default and then drop it (no
 * table rewrite, new rows start NULL); SQLite adds it and updates the existing rows.
 */
import type { Knex } from 'knex';
import { LATENCY_BUCKETS } from '../core/insights.js';
import { dialectOf } from './db.js';

/** The counter columns of a rollup row, in a fixed order (lib/storage/insights-queries.ts). */
export const ROLLUP_COUNTERS: readonly string[] = [
  'requests', 'delivered', 'verified', 'failed', 'expired', 'max_attempts', 'canceled',
  'ref_limit', 'ref_policy', 'ref_breaker', 'ref_challenge', 'mon_limit', 'mon_policy', 'mon_breaker', 'mon_challenge',
  ...Array.from({ length: LATENCY_BUCKETS }, (_v, i) => `lat_${i}`),
];

/**
 * The key columns of a rollup row: grain ('h' hour, 'd' day) and the start of its bucket first; the
 * workflow step (migration 0011, lib/storage/migrations-later.ts) last. The upsert binds a row's
 * values in this order.
 */
export const ROLLUP_KEY = ['grain', 'bucket', 'country', 'channel', 'provider', 'purpose', 'step'] as const;
/** The key as 0008 created it (before 0011 added `step`). */
export const ROLLUP_KEY_0008 = ['grain', 'bucket', 'country', 'channel', 'provider', 'purpose'] as const;

export const insightsMigration = (t: { readonly requests: string; readonly insights: string }): { name: string; up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void> } => ({
  name: '0008_otp_insights',
  async up(knex) {
    const dialect = dialectOf(knex);
    if (dialect === 'sqlite') {
      await knex.schema.alterTable(t.requests, (table) => {
        table.bigInteger('ended_at').nullable();
      });
      await knex(t.requests).update({ ended_at: 0 });
    } else {
      await knex.schema.alterTable(t.requests, (table) => {
        table.bigInteger('ended_at').nullable().defaultTo(0);
      });
      await knex.raw('ALTER TABLE ?? ALTER COLUMN ?? DROP DEFAULT', [t.requests, 'ended_at']);
    }
    await knex.schema.alterTable(t.requests, (table) => {
      /** verified | expired | max_attempts_reached | canceled:<reason>, written with ended_at. */
      table.string('end_outcome', 32).nullable();
      // The end sweep reads the rows that have not ended (few: the live ones) along this index.
      table.index(['ended_at', 'expires_at'], `${t.requests}_ended_idx`);
    });
    await knex.schema.createTable(t.insights, (table) => {
      table.string('grain', 1).notNullable();
      /** Start of the UTC hour or day, epoch ms. */
      table.bigInteger('bucket').notNullable();
      /** ISO 3166-1 alpha-2 of the destination, 'ZZ' unknown. */
      table.string('country', 2).notNullable();
      /** '' for refusals that did not say. */
      table.string('channel', 8).notNullable();
      /** The provider that accepted the message, '' for none. */
      table.string('provider', 32).notNullable();
      table.string('purpose', 64).notNullable();
      for (const column of ROLLUP_COUNTERS) table.bigInteger(column).notNullable().defaultTo(0);
      table.bigInteger('updated_at').notNullable();
      table.primary([...ROLLUP_KEY_0008]);
    });
  },
  async down(knex) {
    await knex.schema.dropTableIfExists(t.insights);
    await knex.schema.alterTable(t.requests, (table) => {
      table.dropIndex(['ended_at', 'expires_at'], `${t.requests}_ended_idx`);
      table.dropColumn('end_outcome');
      table.dropColumn('ended_at');
    });
  },
});
