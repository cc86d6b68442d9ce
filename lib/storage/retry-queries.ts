/**
 * The retry poller's statements: claim due request rows under a lease, extend a lease, release
 * claims that were never started. Like queries.ts, every condition that makes a change safe across
 * processes is in the WHERE clause, and every later write is fenced by the claim's lease token.
 *
 * The claim is atomic on every database:
 * - MySQL 8 / MariaDB 10.6+ / PostgreSQL: `SELECT … FOR UPDATE SKIP LOCKED` inside a transaction,
 *   so concurrent workers skip each other's rows instead of waiting for them;
 * - SQLite: one `UPDATE … WHERE id IN (SELECT … LIMIT n)` statement, which SQLite runs under its
 *   single write lock (a select-then-update transaction could fail with SQLITE_BUSY on upgrade).
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { configError } from '../errors.js';
import { dialectOf } from './db.js';
import type { OtpTableNames } from './migrations.js';
import { toRequestRow, type RequestRow } from './request-row.js';

/** Delivery states the poller works on: an attempt whose lease ran out, or a row waiting for a retry. */
export const CLAIMABLE_STATUSES = ['sending', 'queued'] as const;

export interface ClaimInput {
  /** Epoch ms from the kit's clock. */
  readonly now: number;
  /** Lease length in ms; the rows are the caller's until `now + leaseMs`. */
  readonly leaseMs: number;
  /** Most rows to take. */
  readonly limit: number;
  /** Written to `lease_owner` (the instance id), for operators. */
  readonly owner: string;
}

export interface Claim {
  /** One fresh token per claim; every write about these rows must present it. */
  readonly leaseToken: string;
  readonly leaseExpiresAt: number;
  /** The claimed rows as they are after the claim (status `sending`, leased), oldest due first. */
  readonly rows: readonly RequestRow[];
}

type Raw = Record<string, unknown>;

/**
 * Does this server support `SKIP LOCKED`? MySQL from 8.0.1, MariaDB from 10.6, PostgreSQL from 9.5.
 * `version` is what `SELECT version()` answers. Pure, for the startup check and its tests.
 */
export function supportsSkipLocked(dialect: 'mysql' | 'postgres', version: string): boolean {
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(version);
  if (match === null) return false;
  const [major, minor, patch] = [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
  const atLeast = (a: number, b: number, c = 0): boolean => major > a || (major === a && (minor > b || (minor === b && patch >= c)));
  if (dialect === 'postgres') return atLeast(9, 5);
  return /mariadb/i.test(version) ? atLeast(10, 6) : atLeast(8, 0, 1);
}

const checked = new WeakMap<Knex, Promise<void>>();

/** Fails once, clearly, on a server without SKIP LOCKED (MySQL 5.7, MariaDB < 10.6). Cached per Knex instance. */
export function assertClaimSupported(knex: Knex): Promise<void> {
  let pending = checked.get(knex);
  if (pending === undefined) {
    pending = (async () => {
      const dialect = dialectOf(knex);
      if (dialect === 'sqlite') return;
      const result: unknown = await knex.raw('select version() as v');
      const first: unknown = dialect === 'postgres' ? (result as { rows: unknown[] }).rows[0] : (result as unknown[][])[0]?.[0];
      const v = (first as Raw | undefined)?.v;
      const version = typeof v === 'string' ? v : '';
      if (!supportsSkipLocked(dialect, version)) {
        throw configError(
          `the retry poller needs SELECT … FOR UPDATE SKIP LOCKED, which this database server does not support (version ${version}); use MySQL 8.0.1+, MariaDB 10.6+ or PostgreSQL 9.5+`,
        );
      }
    })();
    // A failed check (e.g. the database was briefly down) is tried again on the next poll.
    pending.catch(() => checked.delete(knex));
    checked.set(knex, pending);
  }
  return pending;
}

/** Due, unleased (or lease run out) rows, oldest due first. */
function dueRows(q: Knex.QueryBuilder, now: number): Knex.QueryBuilder {
  return q
    .whereIn('status', CLAIMABLE_STATUSES)
    .andWhere('next_attempt_at', '<=', now)
    .andWhere((w) => {
      void w.whereNull('lease_expires_at').orWhere('lease_expires_at', '<=', now);
    })
    .orderBy('next_attempt_at', 'asc')
    .orderBy('id', 'asc');
}

/**
 * Claims up to `limit` due rows for the caller: status `sending`, a fresh lease token, the owner and
 * `lease_expires_at = now + leaseMs`. `next_attempt_at` moves to the lease expiry, so a row whose
 * worker dies is due again exactly when its lease runs out (crash recovery without a sweeper).
 */
export async function claimDueRequests(knex: Knex, t: OtpTableNames, input: ClaimInput): Promise<Claim> {
  const leaseToken = randomUUID();
  const leaseExpiresAt = input.now + input.leaseMs;
  const patch = {
    status: 'sending',
    lease_token: leaseToken,
    lease_owner: input.owner.slice(0, 64),
    lease_expires_at: leaseExpiresAt,
    next_attempt_at: leaseExpiresAt,
    updated_at: input.now,
  };
  if (input.limit < 1) return { leaseToken, leaseExpiresAt, rows: [] };
  const claimed = (raw: Raw[]): Claim => ({
    leaseToken,
    leaseExpiresAt,
    rows: raw.map((r) => toRequestRow({ ...r, ...patch })).sort((a, b) => (a.nextAttemptAt ?? 0) - (b.nextAttemptAt ?? 0) || a.id - b.id),
  });

  const dialect = dialectOf(knex);
  if (dialect !== 'mysql') {
    if (dialect === 'postgres') await assertClaimSupported(knex);
    // One statement: PostgreSQL locks the due rows with SKIP LOCKED in the subquery; SQLite runs the
    // whole UPDATE under its single write lock. RETURNING hands the claimed rows back directly.
    const ids = dueRows(knex(t.requests).select('id'), input.now).limit(input.limit);
    if (dialect === 'postgres') void ids.forUpdate().skipLocked();
    const raw = (await knex(t.requests).whereIn('id', ids).update(patch, '*')) as Raw[];
    return claimed(raw);
  }
  await assertClaimSupported(knex);
  // MySQL has no UPDATE … RETURNING: lock the rows (whole rows, so no second read is needed), then
  // lease them in the same transaction. READ COMMITTED: on InnoDB the locking read then takes no gap
  // locks, so concurrent sends (inserts into the due index) never wait for a claim.
  const raw = await knex.transaction(
    async (trx) => {
      const locked = (await dueRows(trx(t.requests).select('*'), input.now).limit(input.limit).forUpdate().skipLocked()) as Raw[];
      if (locked.length > 0) {
        await trx(t.requests)
          .whereIn(
            'id',
            locked.map((r) => Number(r.id)),
          )
          .update(patch);
      }
      return locked;
    },
    { isolationLevel: 'read committed' },
  );
  return claimed(raw);
}

/** Moves a held lease's expiry (e.g. for a row whose chain needs longer). True if still held. */
export async function extendLease(knex: Knex, t: OtpTableNames, id: number, leaseToken: string, leaseExpiresAt: number, now: number): Promise<boolean> {
  const n = await knex(t.requests)
    .where({ id, lease_token: leaseToken })
    .update({ lease_expires_at: leaseExpiresAt, next_attempt_at: leaseExpiresAt, updated_at: now });
  return n === 1;
}

/**
 * Hands claimed rows that were never started back (poller stopping): `queued`, unleased and due
 * now, so another worker takes them at once. Rows whose lease was already taken over are left
 * alone. Returns how many were released.
 */
export async function releaseClaims(knex: Knex, t: OtpTableNames, ids: readonly number[], leaseToken: string, now: number): Promise<number> {
  if (ids.length === 0) return 0;
  return knex(t.requests)
    .whereIn('id', ids)
    .andWhere({ lease_token: leaseToken })
    .update({ status: 'queued', lease_token: null, lease_owner: null, lease_expires_at: null, next_attempt_at: now, updated_at: now });
}
