/**
 * The repository's knexfile.ts with the Knex CLI (TypeScript loaded through tsx), on every
 * database under test: `NODE_OPTIONS='--import tsx' npx knex --knexfile knexfile.ts migrate:latest`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { createOtp } from '../../lib/index.js';
import { otpMigrationSource } from '../../lib/storage/migrations.js';
import { forEachDatabase } from '../helpers/db.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = fileURLToPath(new URL('../../node_modules/knex/bin/cli.js', import.meta.url));

function knexCli(args: readonly string[], databaseUrl: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, '--knexfile', 'knexfile.ts', ...args],
      { cwd: ROOT, env: { ...process.env, DATABASE_URL: databaseUrl, NODE_OPTIONS: '--import tsx' }, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error !== null) reject(new Error(`knex ${args.join(' ')}: ${error.message}\n${stdout}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

forEachDatabase("the repository's knexfile.ts with the Knex CLI", (db) => {
  it('migrate:latest creates the tables the kit checks; a second run has nothing to do', async () => {
    const source = otpMigrationSource();
    const count = (await source.getMigrations([])).length;
    assert.match(await knexCli(['migrate:latest'], db().url), new RegExp(`Batch 1 run: ${count} migrations`));
    assert.match(await knexCli(['migrate:latest'], db().url), /Already up to date/);
    const otp = createOtp({ db: db().knex, providers: ['Console'], console: { write: () => undefined }, secret: 'knexfile-test-secret-0123456789abcdef', env: {} });
    await otp.ready();
    await otp.close();
  });
});
