/**
 * 0015: request records. From this version every request made for a number is recorded on the
 * number's `n:` counter row, in the statement that takes its counters: `made_at` (the database's
 * clock, epoch ms) and `made_before` (the record before it). A send that finds no record within a
 * request's lifetime skips the supersede, the last statement of its batch that usually changes
 * nothing (lib/core/supersede-plan.ts). Requests made before this version have no record: this
 * records one for every number with a live pending request, so its next send supersedes it.
 * Processes of the previous version, during a rolling deploy, make requests without a record: a
 * send of this version within the lifetime of such a request may leave it pending beside its own
 * (verify only ever checks a number's newest request, so that code no longer verifies).
 */
import type { Knex } from 'knex';
import { databaseNowMs } from './counter-sql.js';
import { dialectOf } from './db.js';
import type { LaterMigration } from './migrations-later.js';
import { COUNTER_SLOTS } from './migration-counter-slots.js';

export function madeRecordsMigration(t: { readonly limits: string; readonly requests: string }): LaterMigration {
  return {
    name: '0015_otp_made_records',
    async up(knex) {
      // MySQL commits DDL at once: a run that failed after the ALTER must be able to run again.
      if (!(await knex.schema.hasColumn(t.limits, 'made_at'))) {
        await knex.schema.alterTable(t.limits, (table) => {
          table.bigInteger('made_at').nullable();
          table.bigInteger('made_before').nullable();
        });
      }
      await recordLiveRequests(knex, t, Date.now());
    },
    async down(knex) {
      await knex.schema.alterTable(t.limits, (table) => {
        table.dropColumn('made_at');
        table.dropColumn('made_before');
      });
    },
  };
}

/**
 * One INSERT … SELECT: each number with a pending request that has not expired gets a record now
 * on `n:<number>`, and the row is kept until that request has expired plus ten minutes (its
 * `expire` raised, never lowered; a new row's slots are ended windows, 0).
 */
async function recordLiveRequests(knex: Knex, t: { readonly limits: string; readonly requests: string }, now: number): Promise<void> {
  const dialect = dialectOf(knex);
  const mysql = dialect === 'mysql';
  const q = (name: string): string => (mysql ? `\`${name}\`` : `"${name}"`);
  const o = (c: string): string => `${q('o')}.${q(c)}`;
  const columns = ['key', 'points', 'expire', ...COUNTER_SLOTS.flatMap((s) => [`points_${s}`, `expire_${s}`]), 'made_at'].map(q).join(', ');
  const key = mysql ? `CONCAT('n:', ${o('phone')})` : `'n:' || ${o('phone')}`;
  const select =
    `SELECT ${key}, 0, MAX(${o('expires_at')}) + 600000, ${COUNTER_SLOTS.map(() => '0, 0').join(', ')}, ${databaseNowMs(dialect)} ` +
    `FROM ${q(t.requests)} AS ${q('o')} WHERE ${o('verify_status')} = 'pending' AND ${o('expires_at')} > ? GROUP BY ${o('phone')}`;
  // The target's own columns: MySQL would find them ambiguous with the selected table.
  const own = (c: string): string => (mysql ? `${q(t.limits)}.${q(c)}` : `t.${q(c)}`);
  const given = (c: string): string => (mysql ? `VALUES(${q(c)})` : `excluded.${q(c)}`);
  const greatest = dialect === 'sqlite' ? 'MAX' : 'GREATEST';
  const set = (c: string): string => (mysql ? own(c) : q(c));
  // `made_before` first: MySQL assigns left to right.
  const sets = [
    `${set('made_before')} = ${own('made_at')}`,
    `${set('made_at')} = ${greatest}(COALESCE(${own('made_at')}, 0), ${given('made_at')})`,
    `${set('expire')} = ${greatest}(COALESCE(${own('expire')}, 0), ${given('expire')})`,
  ].join(', ');
  const sql = mysql
    ? `INSERT INTO ${q(t.limits)} (${columns}) ${select} ON DUPLICATE KEY UPDATE ${sets}`
    : `INSERT INTO ${q(t.limits)} AS t (${columns}) ${select} ON CONFLICT (${q('key')}) DO UPDATE SET ${sets}`;
  await knex.raw(sql, [now]);
}
