/**
 * The counter store's upsert, as SQL text built once per row count and shape. A row is either a
 * plain counter (its own `points`/`expire`) or a slotted row: several counters of one key in slots
 * 1-3 (`points_<n>`/`expire_<n>`, migration 0013), its own `points` 0 and `expire` the latest end
 * of its slots (what the sweep and `purge()` read).
 *
 * Per counter: a row whose window ended starts a new one with the given points and expiry; a live
 * one adds the points and keeps its expiry; `force` (a block) sets both whatever the row holds. A
 * slot the row's values leave at 0 points is not touched. The current time is a binding, once per
 * `?` in the update (`NOW_BINDINGS`).
 */
import type { Dialect } from './db.js';
import { COUNTER_SLOTS } from './migration-counter-slots.js';

export type CounterSlot = 0 | (typeof COUNTER_SLOTS)[number];

/** One row of an upsert: points and expiry per slot (index 0: the row's own columns). */
export interface Upsert {
  readonly rowKey: string;
  readonly points: number[];
  readonly expire: Array<number | null>;
}

/** An upsert row with nothing in it yet. */
export function emptyUpsert(rowKey: string): Upsert {
  return { rowKey, points: [0, 0, 0, 0], expire: [0, null, null, null] };
}

/** Adds `points` to one slot of an upsert row (its window, if the row starts one, ends at `expire`). */
export function addToSlot(row: Upsert, slot: CounterSlot, points: number, expire: number): void {
  row.points[slot] = (row.points[slot] ?? 0) + points;
  const current = row.expire[slot];
  if (current === null || current === undefined || current === 0) row.expire[slot] = expire;
  if (slot === 0) return;
  // A slotted row's own expiry is the latest end of its slots: the sweep reads that one.
  row.expire[0] = Math.max(row.expire[0] ?? 0, expire);
  // Its other slots start as ended windows (0), not NULL: a later take then changes no column's
  // size, so InnoDB updates the row in place (a longer row can cost a page reorganization).
  for (const other of COUNTER_SLOTS) if (row.expire[other] === null) row.expire[other] = 0;
}

/** Columns of one upsert row, in order. */
export const UPSERT_COLUMNS = ['key', 'points', 'expire', ...COUNTER_SLOTS.flatMap((s) => [`points_${s}`, `expire_${s}`])] as const;

/** How many times an upsert's SQL takes the current time after its rows' values. */
export const NOW_BINDINGS = 2 + 2 * COUNTER_SLOTS.length;

export const pointsColumn = (slot: CounterSlot): string => (slot === 0 ? 'points' : `points_${slot}`);
export const expireColumn = (slot: CounterSlot): string => (slot === 0 ? 'expire' : `expire_${slot}`);

export function upsertSql(dialect: Dialect, table: string, count: number, force: boolean, withReturning: boolean): string {
  const values = Array.from({ length: count }, () => `(${UPSERT_COLUMNS.map(() => '?').join(', ')})`).join(', ');
  const list = UPSERT_COLUMNS.map((c) => quote(dialect, c)).join(', ');
  const returning = ` RETURNING ${list}`;
  if (dialect === 'mysql') {
    const v = (c: string): string => `VALUES(\`${c}\`)`;
    const ended = (c: string, nullEnded: boolean): string => (force ? `(TRUE OR \`${c}\` <= ?)` : nullEnded ? `(\`${c}\` IS NULL OR \`${c}\` <= ?)` : `(\`${c}\` IS NOT NULL AND \`${c}\` <= ?)`);
    // Assignments run left to right: each `points` column is set while its `expire` is still the old one.
    const sets = [
      `\`points\` = IF(${ended('expire', false)}, ${v('points')}, \`points\` + ${v('points')})`,
      `\`expire\` = IF(${v('points')} = 0, GREATEST(\`expire\`, ${v('expire')}), IF(${ended('expire', false)}, ${v('expire')}, \`expire\`))`,
      ...COUNTER_SLOTS.flatMap((s) => {
        const [p, e] = [`points_${s}`, `expire_${s}`];
        return [
          `\`${p}\` = IF(${v(p)} = 0, \`${p}\`, IF(${ended(e, true)}, ${v(p)}, \`${p}\` + ${v(p)}))`,
          `\`${e}\` = IF(${v(p)} = 0, \`${e}\`, IF(${ended(e, true)}, ${v(e)}, \`${e}\`))`,
        ];
      }),
    ];
    return `INSERT INTO \`${table}\` (${list}) VALUES ${values} ON DUPLICATE KEY UPDATE ${sets.join(', ')}${withReturning ? returning : ''}`;
  }
  const greatest = dialect === 'sqlite' ? 'MAX' : 'GREATEST';
  const ended = (c: string, nullEnded: boolean): string => (force ? `(TRUE OR t."${c}" <= ?)` : nullEnded ? `(t."${c}" IS NULL OR t."${c}" <= ?)` : `(t."${c}" IS NOT NULL AND t."${c}" <= ?)`);
  const sets = [
    `"points" = CASE WHEN ${ended('expire', false)} THEN excluded."points" ELSE t."points" + excluded."points" END`,
    `"expire" = CASE WHEN excluded."points" = 0 THEN ${greatest}(t."expire", excluded."expire") WHEN ${ended('expire', false)} THEN excluded."expire" ELSE t."expire" END`,
    ...COUNTER_SLOTS.flatMap((s) => {
      const [p, e] = [`points_${s}`, `expire_${s}`];
      return [
        `"${p}" = CASE WHEN excluded."${p}" = 0 THEN t."${p}" WHEN ${ended(e, true)} THEN excluded."${p}" ELSE t."${p}" + excluded."${p}" END`,
        `"${e}" = CASE WHEN excluded."${p}" = 0 THEN t."${e}" WHEN ${ended(e, true)} THEN excluded."${e}" ELSE t."${e}" END`,
      ];
    }),
  ];
  return `INSERT INTO "${table}" AS t (${list}) VALUES ${values} ON CONFLICT ("key") DO UPDATE SET ${sets.join(', ')}${returning}`;
}

function quote(dialect: Dialect, name: string): string {
  return dialect === 'mysql' ? `\`${name}\`` : `"${name}"`;
}
