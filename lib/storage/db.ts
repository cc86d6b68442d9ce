/** Knex connections from a DATABASE_URL, with the same settings for every process of an app. */
import knexFactory, { type Knex } from 'knex';
import { credentialFreeUrl } from '../core/url-redact.js';
import { configError } from '../errors.js';
import { assertDatabaseDriver } from './driver-check.js';

export type Dialect = 'mysql' | 'postgres' | 'sqlite';

export const DEFAULT_DATABASE_URL = 'sqlite:./otp.sqlite';

/**
 * `mysql://user:pass@host:port/db` (also `mariadb://`), `postgres://…` (also `postgresql://`), or
 * `sqlite:./file.sqlite` / `sqlite::memory:`. SQLite runs in WAL mode with a busy timeout so that
 * several processes can share the file.
 */
export function knexFromUrl(url: string, pool: { min?: number; max?: number } = {}): Knex {
  const scheme = /^([a-z0-9]+):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'mysql' || scheme === 'mariadb') {
    const connection = scheme === 'mariadb' ? `mysql:${url.slice('mariadb:'.length)}` : url;
    assertDatabaseDriver('mysql2', url, false);
    return knexFactory({ client: 'mysql2', connection, pool: { min: pool.min ?? 0, max: pool.max ?? 10 } });
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    assertDatabaseDriver('pg', url, false);
    return knexFactory({ client: 'pg', connection: url, pool: { min: pool.min ?? 0, max: pool.max ?? 10 } });
  }
  if (scheme === 'sqlite' || scheme === 'file') {
    const filename = url.slice(scheme.length + 1).replace(/^\/\//, '') || './otp.sqlite';
    assertDatabaseDriver('better-sqlite3', url, url === DEFAULT_DATABASE_URL);
    return knexFactory({
      client: 'better-sqlite3',
      connection: { filename },
      useNullAsDefault: true,
      pool: {
        afterCreate(conn: { pragma(sql: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
          if (filename !== ':memory:') conn.pragma('journal_mode = WAL');
          conn.pragma('busy_timeout = 5000');
          done(null, conn);
        },
      },
    });
  }
  throw configError(`DATABASE_URL "${credentialFreeUrl(url)}" is not understood: use mysql://user:pass@host:3306/db, postgres://user@host:5432/db or sqlite:./otp.sqlite`);
}

export function dialectOf(knex: Knex): Dialect {
  const configured = (knex.client as { config?: { client?: unknown } }).config?.client;
  const client = typeof configured === 'string' ? configured : '';
  if (client === 'mysql' || client === 'mysql2') return 'mysql';
  if (client === 'pg' || client === 'postgres' || client === 'postgresql') return 'postgres';
  if (client === 'better-sqlite3' || client === 'sqlite3' || client === 'sqlite') return 'sqlite';
  throw configError(`database client "${client}" is not supported: use mysql2, pg or better-sqlite3`);
}

const returningSupport = new WeakMap<Knex, Promise<boolean>>();

/**
 * Whether INSERT … RETURNING works: always on PostgreSQL and SQLite; on the mysql2 client only
 * for MariaDB 10.5+ (MySQL has none). Asked once per Knex instance.
 */
export function supportsReturning(knex: Knex): Promise<boolean> {
  if (dialectOf(knex) !== 'mysql') return Promise.resolve(true);
  let known = returningSupport.get(knex);
  if (known === undefined) {
    known = Promise.resolve(knex.raw('SELECT VERSION() AS v') as unknown as Promise<[Array<{ v: unknown }>, unknown]>).then(
      ([rows]) => {
        const version = rows[0]?.v;
        const match = /^(\d+)\.(\d+).*mariadb/i.exec(typeof version === 'string' ? version : '');
        return match !== null && (Number(match[1]) > 10 || (Number(match[1]) === 10 && Number(match[2]) >= 5));
      },
      (error: unknown) => {
        returningSupport.delete(knex);
        throw error;
      },
    );
    returningSupport.set(knex, known);
  }
  return known;
}
