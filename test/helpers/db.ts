/**
 * Real databases for tests: every DB-backed suite runs once per database that the runner found
 * (OTP_TEST_DATABASES), each test file on a fresh database of its own that is dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import knexFactory, { type Knex } from 'knex';

export type DbKind = 'sqlite' | 'mysql' | 'postgres';

export const DB_KINDS: readonly DbKind[] = (process.env.OTP_TEST_DATABASES ?? 'sqlite')
  .split(',')
  .filter((k): k is DbKind => k === 'sqlite' || k === 'mysql' || k === 'postgres');

const MYSQL_URL = process.env.OTP_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const PG_URL = process.env.OTP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  readonly kind: DbKind;
  readonly knex: Knex;
  /** A connection URL for the same database, for child processes (DATABASE_URL form). */
  readonly url: string;
  destroy(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Creates a fresh, empty database of the given kind. */
export async function createTestDatabase(kind: DbKind, pool: { min?: number; max?: number } = {}): Promise<TestDatabase> {
  const name = `otp_t_${randomBytes(5).toString('hex')}`;
  if (kind === 'sqlite') {
    const file = join(tmpdir(), `${name}.sqlite`);
    const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: file }, useNullAsDefault: true });
    return {
      kind, knex, url: `sqlite:${file}`,
      async destroy() {
        await knex.destroy();
        for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
      },
    };
  }
  const client = kind === 'mysql' ? 'mysql2' : 'pg';
  const admin = knexFactory({ client, connection: kind === 'mysql' ? MYSQL_URL : PG_URL, pool: { min: 0, max: 1 } });
  await admin.raw(`CREATE DATABASE ${name}`);
  const url = withDatabase(kind === 'mysql' ? MYSQL_URL : PG_URL, name);
  const knex = knexFactory({ client, connection: url, pool: { min: pool.min ?? 0, max: pool.max ?? 10 } });
  return {
    kind, knex, url,
    async destroy() {
      await knex.destroy();
      if (kind === 'postgres') await admin.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      else await admin.raw(`DROP DATABASE IF EXISTS ${name}`);
      await admin.destroy();
    },
  };
}

/**
 * Declares `fn`'s tests once per database under test, inside `describe('<title> [<kind>]')`.
 * `get()` returns that database once the `before` hook has created it.
 */
export function forEachDatabase(title: string, fn: (get: () => TestDatabase, kind: DbKind) => void): void {
  for (const kind of DB_KINDS) {
    void describe(`${title} [${kind}]`, () => {
      let db: TestDatabase | undefined;
      before(async () => {
        db = await createTestDatabase(kind);
      });
      after(async () => {
        await db?.destroy();
      });
      fn(() => {
        if (db === undefined) throw new Error('database not ready');
        return db;
      }, kind);
    });
  }
}
