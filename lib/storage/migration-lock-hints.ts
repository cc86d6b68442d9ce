/**
 * 0014: lock hints for the locks that already hold. From this version a lock of a number first
 * marks the number's `n:` row with a lock hint, and a send that takes that row reads the number's
 * lock rows only while the hint holds (lib/storage/counter-sql.ts, `lockHintSql`). Locks written
 * before it have no hint: this gives every live wrong-code lock row (`vl:` + number) and every
 * failure-budget lock in force one that lasts as long as the lock, plus two minutes. Processes of
 * the previous version, during a rolling deploy, still lock without one: such a lock still refuses
 * the number's verifies, but its sends get codes until the lock ends.
 */
import type { Knex } from 'knex';
import { dialectOf } from './db.js';
import type { LaterMigration } from './migrations-later.js';
import { COUNTER_SLOTS } from './migration-counter-slots.js';

export function lockHintsMigration(t: { readonly limits: string; readonly failures: string }): LaterMigration {
  return {
    name: '0014_otp_lock_hints',
    async up(knex) {
      const now = Date.now();
      const q = quoter(knex);
      // The source table is `o`: MySQL would find the update's columns ambiguous with the selected table.
      const o = (c: string): string => `${q('o')}.${q(c)}`;
      // `vl:` + number: the wrong-code lock's rows (lib/limits/keys.ts); the number starts at the 4th character.
      await hintLocks(knex, t.limits, `SUBSTR(${o('key')}, 4)`, o('expire'), `${q(t.limits)} AS ${q('o')} WHERE ${o('key')} LIKE 'vl:%' AND ${o('expire')} > ?`, now);
      await hintLocks(knex, t.limits, o('phone'), o('locked_until'), `${q(t.failures)} AS ${q('o')} WHERE ${o('locked_until')} > ?`, now);
    },
    async down() {
      // A hint only costs a lock read while it holds: nothing to undo.
    },
  };
}

const quoter = (knex: Knex): ((name: string) => string) => (dialectOf(knex) === 'mysql' ? (name) => `\`${name}\`` : (name) => `"${name}"`);

/**
 * One INSERT … SELECT: each number selected `from` gets a hint on `n:<number>` until its lock's
 * end (`until`, epoch ms) plus two minutes, raising the row's own `points` (the hint's end in
 * minutes) and `expire`, never lowering them; a new row's slots are ended windows (0).
 */
async function hintLocks(knex: Knex, limits: string, phone: string, until: string, from: string, now: number): Promise<void> {
  const dialect = dialectOf(knex);
  const mysql = dialect === 'mysql';
  const q = quoter(knex);
  const columns = ['key', 'points', 'expire', ...COUNTER_SLOTS.flatMap((s) => [`points_${s}`, `expire_${s}`])].map(q).join(', ');
  const key = mysql ? `CONCAT('n:', ${phone})` : `'n:' || ${phone}`;
  const minutes = `(${until} ${mysql ? 'DIV' : '/'} 60000) + 3`;
  const select = `SELECT ${key}, ${minutes}, ${until} + 120000, ${COUNTER_SLOTS.map(() => '0, 0').join(', ')} FROM ${from}`;
  const own = (c: string): string => (mysql ? `${q(limits)}.${q(c)}` : `t.${q(c)}`);
  const given = (c: string): string => (mysql ? `VALUES(${q(c)})` : `excluded.${q(c)}`);
  const raise = (c: string): string => `${mysql ? own(c) : q(c)} = ${dialect === 'sqlite' ? 'MAX' : 'GREATEST'}(COALESCE(${own(c)}, 0), ${given(c)})`;
  const sets = `${raise('points')}, ${raise('expire')}`;
  // `from` has a WHERE: SQLite needs one to parse ON CONFLICT after INSERT … SELECT.
  const sql = mysql
    ? `INSERT INTO ${q(limits)} (${columns}) ${select} ON DUPLICATE KEY UPDATE ${sets}`
    : `INSERT INTO ${q(limits)} AS t (${columns}) ${select} ON CONFLICT (${q('key')}) DO UPDATE SET ${sets}`;
  await knex.raw(sql, [now]);
}
