/**
 * The kit's migrations from an app's own Knex CLI setup, next to the app's own migrations folder
 * (SQLite). The kit's source and a `directory` cannot share one `migrations` block: Knex resets
 * the source and reports a corrupt migration directory. What works is one configuration per
 * source, each with its own `migrations.tableName`: two knexfiles, or one knexfile with an `otp`
 * environment. Fixtures: test/package/fixtures/.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createOtp, OTP_MIGRATIONS_TABLE, otpMigrationSource } from '../../lib/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = fileURLToPath(new URL('../../node_modules/knex/bin/cli.js', import.meta.url));
const FIXTURES = 'test/package/fixtures';

function knexCli(knexfile: string, args: readonly string[], databaseUrl: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, '--knexfile', `${FIXTURES}/${knexfile}`, ...args],
      { cwd: ROOT, env: { ...process.env, DATABASE_URL: databaseUrl, NODE_OPTIONS: '--import tsx' }, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error !== null) reject(new Error(`knex ${args.join(' ')}: ${error.message}\n${stdout}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

async function kitCount(): Promise<number> {
  return (await otpMigrationSource().getMigrations([])).length;
}

async function assertBothMigrated(db: TestDatabase): Promise<void> {
  assert.ok(await db.knex.schema.hasTable('app_users'), "the app's table");
  assert.equal((await db.knex('knex_migrations').count({ n: '*' }))[0]?.n, 1, "the app's bookkeeping holds the app's migration");
  assert.equal(Number((await db.knex(OTP_MIGRATIONS_TABLE).count({ n: '*' }))[0]?.n), await kitCount(), "the kit's bookkeeping holds the kit's");
  const otp = createOtp({ db: db.knex, providers: ['Console'], console: { write: () => undefined }, secret: 'knexfile-test-secret-0123456789abcdef', env: {} });
  await otp.ready();
  await otp.close();
}

void describe("the kit's migrations next to an app's own migrations [sqlite]", { timeout: 180_000 }, () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('sqlite');
  });
  after(async () => {
    await db.destroy();
  });

  it('two knexfiles, one table each: both run, a second run has nothing to do, and otp.ready() passes', async () => {
    assert.match(await knexCli('otp-knexfile.ts', ['migrate:latest'], db.url), new RegExp(`Batch 1 run: ${await kitCount()} migrations`));
    assert.match(await knexCli('app-knexfile.ts', ['migrate:latest'], db.url), /Batch 1 run: 1 migrations/);
    assert.match(await knexCli('otp-knexfile.ts', ['migrate:latest'], db.url), /Already up to date/);
    assert.match(await knexCli('app-knexfile.ts', ['migrate:latest'], db.url), /Already up to date/);
    await assertBothMigrated(db);
    // otp.migrate() at startup uses the same bookkeeping table, so it finds nothing to do either.
    const otp = createOtp({ db: db.knex, providers: ['Console'], console: { write: () => undefined }, secret: 'knexfile-test-secret-0123456789abcdef', env: {} });
    await otp.migrate();
    await otp.close();
  });

  it('the kit source next to a `directory` in one block fails: Knex resets the source and calls the directory corrupt', async () => {
    await assert.rejects(knexCli('mixed-knexfile.ts', ['migrate:latest'], db.url), /corrupt/i);
  });

  it('one knexfile with an `otp` environment works the same (knex migrate:latest --env otp)', async () => {
    const fresh = await createTestDatabase('sqlite');
    try {
      assert.match(await knexCli('environments-knexfile.ts', ['migrate:latest', '--env', 'otp'], fresh.url), new RegExp(`Batch 1 run: ${await kitCount()} migrations`));
      assert.match(await knexCli('environments-knexfile.ts', ['migrate:latest', '--env', 'development'], fresh.url), /Batch 1 run: 1 migrations/);
      await assertBothMigrated(fresh);
    } finally {
      await fresh.destroy();
    }
  });
});
