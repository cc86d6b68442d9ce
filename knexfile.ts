/**
 * Knex CLI configuration of this repository: the kit's own migrations against DATABASE_URL (the
 * same URL forms as the app: mysql://, postgres://, sqlite:./file.sqlite; default ./otp.sqlite).
 *
 *   NODE_OPTIONS='--import tsx' npx knex --knexfile knexfile.ts migrate:latest
 *
 * The connection settings come from `knexFromUrl`, so the CLI opens the database exactly like the
 * app does (SQLite in WAL mode with a busy timeout). An app that installed the package does the
 * same with `otpMigrationSource()` and `OTP_MIGRATIONS_TABLE` imported from the package; pass the
 * app's `tables` option to `otpMigrationSource(tables)` when it renames the kit's tables.
 *
 * Keep the kit's source in a configuration of its own, with its own `tableName`: next to a
 * `directory` in the same `migrations` block Knex drops the source for its folder reader and reports
 * a corrupt migration directory. An app with migrations of its own uses a second knexfile or an
 * `otp` environment (`knex migrate:latest --env otp`); see the README, "Database and migrations",
 * and test/package/knexfile-app.test.ts.
 */
import type { Knex } from 'knex';
import { DEFAULT_DATABASE_URL, knexFromUrl } from './lib/storage/db.js';
import { OTP_MIGRATIONS_TABLE, otpMigrationSource } from './lib/storage/migrations.js';

const url = process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== '' ? process.env.DATABASE_URL : DEFAULT_DATABASE_URL;

// knexFromUrl builds the connection settings; the CLI wants them as a plain config object.
// Nothing connects here: the pool opens connections only on the first query.
const probe = knexFromUrl(url);
const connectionConfig = (probe.client as { config: Knex.Config }).config;
await probe.destroy();

const config: Knex.Config = {
  ...connectionConfig,
  migrations: { migrationSource: otpMigrationSource(), tableName: OTP_MIGRATIONS_TABLE },
};

export default config;
