/**
 * 0013: one counter row per number for a send's per-number limits. The cooldown, the channel-switch
 * gap and sends per number were three rows (`sc:`, `sw:`, `sn:` + number), three inserts and three
 * index entries for every new number; they are now three slots of one row (`n:` + number), in
 * columns `points_1`/`expire_1` … `points_3`/`expire_3` (lib/storage/counter-sql.ts). The row's
 * own `expire` is then the latest end of its slots, so the counter sweep and `purge()` find it as
 * before. The live windows of the old rows are copied into their slots, so the upgrade forgets no
 * cooldown; the old rows then expire on their own (processes of the previous version, during a
 * rolling deploy, still write them).
 */
import type { Knex } from 'knex';
import { dialectOf } from './db.js';
import type { LaterMigration } from './migrations-later.js';

export const COUNTER_SLOTS = [1, 2, 3] as const;

/** Where each slot's counter was kept before 0013. */
const OLD_PREFIXES: ReadonlyArray<readonly [string, (typeof COUNTER_SLOTS)[number]]> = [
  ['sc', 1],
  ['sw', 2],
  ['sn', 3],
];

export function counterSlotsMigration(t: { readonly limits: string }): LaterMigration {
  return {
    name: '0013_otp_counter_slots',
    async up(knex) {
      // MySQL commits DDL at once: a run that failed after the ALTER must be able to run again.
      if (!(await knex.schema.hasColumn(t.limits, 'points_1'))) await addSlotColumns(knex, t.limits);
      await copyLiveWindows(knex, t.limits, Date.now());
    },
    async down(knex) {
      await knex.schema.alterTable(t.limits, (table) => {
        for (const slot of COUNTER_SLOTS) {
          table.dropColumn(`points_${slot}`);
          table.dropColumn(`expire_${slot}`);
        }
      });
    },
  };
}

async function addSlotColumns(knex: Knex, limits: string): Promise<void> {
  await knex.schema.alterTable(limits, (table) => {
    for (const slot of COUNTER_SLOTS) {
      table.integer(`points_${slot}`).notNullable().defaultTo(0);
      table.bigInteger(`expire_${slot}`).nullable();
    }
  });
}

/** One INSERT … SELECT per old prefix: each live `<prefix>:<number>` row becomes its slot of `n:<number>`. */
async function copyLiveWindows(knex: Knex, table: string, now: number): Promise<void> {
  const dialect = dialectOf(knex);
  const mysql = dialect === 'mysql';
  const q = (name: string): string => (mysql ? `\`${name}\`` : `"${name}"`);
  for (const [prefix, slot] of OLD_PREFIXES) {
    const [p, e] = [q(`points_${slot}`), q(`expire_${slot}`)];
    // The old row is `o`: MySQL would find the update's columns ambiguous with the selected table.
    const o = (name: string): string => `${q('o')}.${q(name)}`;
    const newKey = mysql ? `CONCAT('n:', SUBSTRING(${o('key')}, 4))` : `'n:' || SUBSTR(${o('key')}, 4)`;
    const select = `SELECT ${newKey}, 0, ${o('expire')}, ${o('points')}, ${o('expire')} FROM ${q(table)} AS ${q('o')} WHERE ${o('key')} LIKE '${prefix}:%' AND ${o('expire')} > ?`;
    const columns = `(${q('key')}, ${q('points')}, ${q('expire')}, ${p}, ${e})`;
    const own = (name: string): string => `${q(table)}.${q(name)}`;
    const sql = mysql
      ? `INSERT INTO ${q(table)} ${columns} ${select} ON DUPLICATE KEY UPDATE ${own(`points_${slot}`)} = VALUES(${p}), ${own(`expire_${slot}`)} = VALUES(${e}), ${own('expire')} = GREATEST(${own('expire')}, VALUES(${q('expire')}))`
      : `INSERT INTO ${q(table)} AS t ${columns} ${select} ON CONFLICT (${q('key')}) DO UPDATE SET ${p} = excluded.${p}, ${e} = excluded.${e}, ${q('expire')} = ${dialect === 'sqlite' ? 'MAX' : 'GREATEST'}(t.${q('expire')}, excluded.${q('expire')})`;
    await knex.raw(sql, [now]);
  }
}
