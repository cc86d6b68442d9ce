/**
 * The kit's migrations on tables of a test's own (`<prefix>_requests`, …), brought up to a given
 * migration: the schema as an earlier kit left it, for the tests of a later migration.
 */
import type { Knex } from 'knex';
import { otpMigrationSource } from '../../lib/index.js';
import { DEFAULT_TABLES, type OtpTableNames } from '../../lib/storage/migrations.js';

export interface PrefixedMigrations {
  readonly tables: OtpTableNames;
  readonly config: Knex.MigratorConfig;
}

export function prefixedMigrations(prefix: string): PrefixedMigrations {
  const names = ['requests', 'limits', 'failures', 'webhooks', 'holds', 'insights'] as const;
  const tables: OtpTableNames = { ...DEFAULT_TABLES, ...Object.fromEntries(names.map((n) => [n, `${prefix}_${n}`])) };
  return { tables, config: { migrationSource: otpMigrationSource(tables), tableName: `${prefix}_knex_migrations` } };
}

/** Runs the migrations one by one until `name` has run. */
export async function migrateUpTo(knex: Knex, config: Knex.MigratorConfig, name: string): Promise<void> {
  for (;;) {
    const [done] = (await knex.migrate.list(config)) as [Array<{ name?: string } | string>, unknown];
    if (done.some((m) => (typeof m === 'string' ? m : m.name) === name)) return;
    await knex.migrate.up(config);
  }
}
