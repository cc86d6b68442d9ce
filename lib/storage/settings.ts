/**
 * The settings table (the seed's key/value rows, possibly the app's own table): read and write one
 * row, and a cached reader that every settings-driven feature (routing, test numbers) uses the
 * same way: re-read at most every `refreshMs`, one read at a time per process, and a row that turns
 * malformed is logged while the last good value stays in force.
 */
import type { Knex } from 'knex';
import type { OtpTableNames } from './migrations.js';
import { strOrNull, type Raw } from './sql.js';

export async function readSetting(knex: Knex, t: OtpTableNames, key: string): Promise<string | undefined> {
  const row: Raw | undefined = await knex<Raw>(t.settings).where(t.settingsKeyColumn, key).first(t.settingsValueColumn);
  return strOrNull(row?.[t.settingsValueColumn]) ?? undefined;
}

export async function writeSetting(knex: Knex, t: OtpTableNames, key: string, value: string): Promise<void> {
  await knex(t.settings)
    .insert({ [t.settingsKeyColumn]: key, [t.settingsValueColumn]: value })
    .onConflict(t.settingsKeyColumn)
    .merge([t.settingsValueColumn]);
}

export interface CachedSettingOptions<T> {
  readonly knex: Knex;
  readonly tables: OtpTableNames;
  readonly key: string;
  readonly refreshMs: number;
  readonly clock: () => number;
  /** Parses the stored text (undefined when the row is missing); throws when it is malformed. */
  readonly parse: (stored: string | undefined) => T;
  /** Called with the problem when a malformed row is ignored (the last good value stays). */
  readonly onIgnored: (error: unknown) => void;
  /** The value before any good read; without it, a malformed first read throws. */
  readonly initial?: T;
}

export interface CachedSetting<T> {
  /** The value in force (cached for `refreshMs`). */
  current(): Promise<T>;
  /** Writes the row and makes the next `current()` read it. */
  write(stored: string): Promise<void>;
  /** Forces the next `current()` to read the row again. */
  invalidate(): void;
}

export function cachedSetting<T>(options: CachedSettingOptions<T>): CachedSetting<T> {
  const { knex, tables, key, clock } = options;
  let last: T | undefined = options.initial;
  let hasLast = 'initial' in options;
  let readAt = Number.NEGATIVE_INFINITY;
  let inflight: Promise<T> | undefined;

  async function load(): Promise<T> {
    const stored = await readSetting(knex, tables, key);
    let next: T;
    try {
      next = options.parse(stored);
    } catch (error) {
      if (!hasLast) throw error;
      options.onIgnored(error);
      next = last as T;
    }
    last = next;
    hasLast = true;
    readAt = clock();
    return next;
  }

  return {
    async current() {
      if (hasLast && clock() - readAt < options.refreshMs) return last as T;
      inflight ??= load().finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
    async write(stored) {
      await writeSetting(knex, tables, key, stored);
      readAt = Number.NEGATIVE_INFINITY;
    },
    invalidate() {
      readAt = Number.NEGATIVE_INFINITY;
    },
  };
}
