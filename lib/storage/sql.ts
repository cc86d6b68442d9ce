/**
 * Small SQL helpers shared by the storage modules: column readers (the three drivers differ on
 * BIGINT, NULL and numbers), result readers (affected rows, returned rows) and a cache of the hot
 * statements' SQL strings, built once per dialect, table and shape and run with `knex.raw`.
 */
import type { Knex } from 'knex';
import { dialectOf, type Dialect } from './db.js';

/** A row as the driver returns it. */
export type Raw = Record<string, unknown>;

export const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
export const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
export const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v));

/**
 * The hot statements are fixed SQL strings: the same SQL the query builder writes, without
 * building it on every request (Knex's builder was a large share of the server's CPU per send).
 */
const statements = new Map<string, unknown>();

export type Quote = (name: string) => string;

/**
 * A statement's SQL (or its parts, as the counter upsert's), built once per dialect and key. Each key
 * belongs to one call site, which always builds the same type for it.
 */
export function statement<T = string>(knex: Knex, key: string, build: (q: Quote, dialect: Dialect) => T): { sql: T; dialect: Dialect } {
  const dialect = dialectOf(knex);
  const full = `${dialect}\0${key}`;
  let sql = statements.get(full) as T | undefined;
  if (sql === undefined) {
    const quote = dialect === 'mysql' ? '`' : '"';
    sql = build((name) => quote + name.split(quote).join(quote + quote) + quote, dialect);
    statements.set(full, sql);
  }
  return { sql, dialect };
}

/** Rows changed by a raw UPDATE, as each driver reports them. */
export function changedRows(dialect: Dialect, result: unknown): number {
  if (dialect === 'mysql') return num(((result as unknown[])[0] as { affectedRows?: unknown } | undefined)?.affectedRows ?? 0);
  if (dialect === 'postgres') return num((result as { rowCount?: unknown }).rowCount ?? 0);
  return num((result as { changes?: unknown }).changes ?? 0);
}

/** Rows of a raw SELECT (or RETURNING), as each driver reports them. */
export function rowsOf(dialect: Dialect, result: unknown): Raw[] {
  if (dialect === 'mysql') return (result as [Raw[]])[0];
  if (dialect === 'postgres') return (result as { rows: Raw[] }).rows;
  return result as Raw[];
}

/**
 * `case <column> when ? then <then> … end`, one arm per row of a batch: each row's own value or
 * condition, where the rows themselves are found by an `IN` list (an OR of per-row conditions cost
 * MariaDB a range analysis per disjunct). Bindings per arm: the row's key, then those of `then`.
 */
export const perRow = (column: string, rows: number, then: string): string => `case ${column}${' when ? then '.concat(then).repeat(rows)} end`;

/** `(?, ?, …)` for an `IN` list of `count` values. */
export const inList = (count: number): string => `(${Array.from({ length: count }, () => '?').join(', ')})`;

/** `{column}` placeholders of a condition, quoted. */
export const quoteColumns = (where: string, q: Quote): string => where.replace(/\{([^{}]+)\}/g, (_m, c: string) => q(c));

/** A conditional UPDATE of the given columns, one cached string per table, column list and condition. */
export async function updateWhere(knex: Knex, table: string, set: Record<string, unknown>, where: string, whereKey: string, whereBindings: readonly Knex.RawBinding[]): Promise<number> {
  const columns = Object.keys(set);
  const { sql, dialect } = statement(knex, `update\0${table}\0${columns.join(',')}\0${whereKey}`, (q) => `update ${q(table)} set ${columns.map((c) => `${q(c)} = ?`).join(', ')} where ${quoteColumns(where, q)}`);
  const result: unknown = await knex.raw(sql, [...(Object.values(set) as Knex.RawBinding[]), ...whereBindings]);
  return changedRows(dialect, result);
}
