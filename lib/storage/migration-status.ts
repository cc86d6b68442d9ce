/** Which of the kit's migrations a database has applied and which are pending (the CLI's `status`). */
import type { Knex } from 'knex';
import { OTP_MIGRATIONS_TABLE, otpMigrationSource, type OtpTableNames } from './migrations.js';

export interface OtpMigrationStatus {
  readonly applied: readonly string[];
  readonly pending: readonly string[];
}

export async function otpMigrationStatus(knex: Knex, tables: Partial<OtpTableNames> = {}): Promise<OtpMigrationStatus> {
  const source = otpMigrationSource(tables);
  // Knex types list() as any: completed rows are { name } (strings in older Knex), pending ones the source's migrations.
  const [completed, pending] = (await knex.migrate.list({ migrationSource: source, tableName: OTP_MIGRATIONS_TABLE })) as [readonly ({ name: string } | string)[], readonly Parameters<typeof source.getMigrationName>[0][]];
  return {
    applied: completed.map((row) => (typeof row === 'string' ? row : row.name)),
    pending: pending.map((m) => source.getMigrationName(m)),
  };
}
