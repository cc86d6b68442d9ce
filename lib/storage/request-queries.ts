/**
 * The request table's statements for sends and lookups, one named function each, `knex` passed
 * in. Ordered by the database's own id, so concurrent sends agree on which request is newest.
 */
import type { Knex } from 'knex';
import type { Channel } from '../types.js';
import { dialectOf } from './db.js';
import { counterRowKey } from './counter-store.js';
import type { LockState } from './lock-reads.js';
import type { OtpTableNames } from './migrations.js';
import { REQUEST_COLUMNS, SPENT_DIGEST, toRequestRow, type RequestRow } from './request-row.js';
import { changedRows, inList, num, numOrNull, perRow, rowsOf, statement, type Raw } from './sql.js';

export interface NewRequest {
  readonly requestId: string;
  readonly phone: string;
  readonly channel: Channel;
  readonly purpose: string;
  readonly chain: readonly string[];
  readonly codeDigest: string;
  readonly codeCipher: string;
  readonly messageTemplate: string;
  /** The send's locale for providers that write their own text. @default null */
  readonly locale?: string | null;
  readonly leaseOwner: string;
  readonly leaseToken: string;
  readonly leaseExpiresAt: number;
  readonly clientIp: string | null;
  readonly expiresAt: number;
  readonly now: number;
  /**
   * The escalation workflow the request starts with (migration 0010): written by the insert itself,
   * so no request ever exists without the workflow it was sent with. @default none
   */
  readonly workflow?: NewWorkflow;
}

/** A workflow's columns on a new request: the plan, when the next step is due, the step history. */
export interface NewWorkflow {
  readonly plan: string;
  readonly stepDueAt: number | null;
  readonly steps: string;
}

const REQUEST_INSERT_COLUMNS = [
  'request_id', 'phone', 'channel', 'purpose', 'chain', 'code_owner', 'code_digest', 'code_cipher', 'message_template', 'locale', 'status', 'send_attempts',
  'next_attempt_at', 'lease_owner', 'lease_token', 'lease_expires_at', 'verify_status', 'attempts', 'client_ip', 'expires_at', 'created_at', 'updated_at',
  'workflow', 'step_due_at', 'steps',
] as const;

/** What every new request starts with, written as SQL literals: fewer values to bind and escape per row. */
const REQUEST_INSERT_LITERALS: Partial<Record<(typeof REQUEST_INSERT_COLUMNS)[number], string>> = {
  code_owner: "'kit'",
  status: "'sending'",
  send_attempts: '0',
  verify_status: "'pending'",
  attempts: '0',
};

/** `(?, ?, 'kit', …)`: one row of the insert, in REQUEST_INSERT_COLUMNS order. */
const REQUEST_INSERT_ROW = `(${REQUEST_INSERT_COLUMNS.map((c) => REQUEST_INSERT_LITERALS[c] ?? '?').join(', ')})`;

/** The bound values of one row (every column of REQUEST_INSERT_COLUMNS but the literals), appended to `out`. */
function pushInsertBindings(out: Knex.RawBinding[], r: NewRequest): Knex.RawBinding[] {
  out.push(
    r.requestId, r.phone, r.channel, r.purpose, r.chain.join(','), r.codeDigest, r.codeCipher, r.messageTemplate, r.locale ?? null,
    r.leaseExpiresAt, r.leaseOwner, r.leaseToken, r.leaseExpiresAt, r.clientIp, r.expiresAt, r.now, r.now,
    r.workflow?.plan ?? null, r.workflow?.stepDueAt ?? null, r.workflow?.steps ?? null,
  );
  return out;
}

/**
 * Inserts a request in state `sending` under the caller's lease. `next_attempt_at` is the lease
 * expiry, so if this process dies mid-send the retry poller takes the row over. Its workflow (if
 * any) is part of the same statement. Returns the row id.
 */
export async function insertRequest(knex: Knex, t: OtpTableNames, r: NewRequest): Promise<number> {
  const { sql, dialect } = statement(knex, `insert\0${t.requests}`, (q, d) =>
    // MySQL has no RETURNING; its driver answers the insert id instead.
    `insert into ${q(t.requests)} (${REQUEST_INSERT_COLUMNS.map(q).join(', ')}) values ${REQUEST_INSERT_ROW}${d === 'mysql' ? '' : ` returning ${q('id')}`}`,
  );
  const result: unknown = await knex.raw(sql, pushInsertBindings([], r));
  if (dialect === 'mysql') return num(((result as unknown[])[0] as { insertId?: unknown }).insertId);
  return num(rowsOf(dialect, result)[0]?.id);
}

/**
 * Several requests in one multi-row INSERT … RETURNING (MariaDB 10.5+, PostgreSQL, SQLite; the
 * caller checks `supportsReturning`). Returns the row ids in the order of `rows`.
 */
export async function insertRequests(knex: Knex, t: OtpTableNames, rows: readonly NewRequest[]): Promise<number[]> {
  const { sql, dialect } = statement(
    knex,
    `insert-many\0${t.requests}\0${rows.length}`,
    (q) => `insert into ${q(t.requests)} (${REQUEST_INSERT_COLUMNS.map(q).join(', ')}) values ${rows.map(() => REQUEST_INSERT_ROW).join(', ')} returning ${q('id')}, ${q('request_id')}`,
  );
  const bindings: Knex.RawBinding[] = [];
  for (const r of rows) pushInsertBindings(bindings, r);
  const result: unknown = await knex.raw(sql, bindings);
  const ids = new Map(rowsOf(dialect, result).map((r) => [String(r.request_id), num(r.id)]));
  return rows.map((r) => {
    const id = ids.get(r.requestId);
    if (id === undefined) throw new Error(`insert returned no id for request ${r.requestId}`);
    return id;
  });
}

/**
 * One live request per number: every older pending request of the number is superseded, so the
 * newest (the highest id, as the lookups read it) is the only one left. Run after the request's own
 * insert has committed; `supersedeOlderMany` for one request.
 */
export async function supersedeOlder(knex: Knex, t: OtpTableNames, phone: string, id: number, now: number): Promise<number> {
  return supersedeOlderMany(knex, t, [{ phone, id }], now);
}

/**
 * `supersedeOlder` for several new requests in one statement (each: its phone and its own id). The
 * numbers are found by `phone in (…)` on the (phone, id) index; an OR of per-number conditions cost
 * MariaDB a range analysis per disjunct. Which requests are older:
 *
 * - MySQL / MariaDB: those below the new request's own id (`case phone when … then id < … end`; a
 *   number twice in the batch is bounded by its newest). The UPDATE's read locks: it waits for a
 *   concurrent insert of the number to commit, then sees it.
 * - PostgreSQL, SQLite: every request below the number's newest, whoever inserted it. PostgreSQL's
 *   UPDATE does not see an insert that commits after the statement began, so two instances' sends of
 *   one number (not bound by the cooldowns: the safe list, or the limits off) could each miss the other
 *   and leave both pending; with "below the newest", whichever supersede runs last sees both and
 *   supersedes the older, even its own request (test/security/races.test.ts). SQLite has one writer.
 */
export async function supersedeOlderMany(knex: Knex, t: OtpTableNames, fresh: ReadonlyArray<{ readonly phone: string; readonly id: number }>, now: number): Promise<number> {
  const newest = new Map<string, number>();
  for (const f of fresh) newest.set(f.phone, Math.max(f.id, newest.get(f.phone) ?? f.id));
  const { sql, dialect } = statement(knex, `supersede-many\0${t.requests}\0${newest.size}`, (q, d) => {
    const bound =
      d === 'mysql'
        ? perRow(q('phone'), newest.size, `${q('id')} < ?`)
        : `${q('id')} < (select max(${q('m')}.${q('id')}) from ${q(t.requests)} as ${q('m')} where ${q('m')}.${q('phone')} = ${q(t.requests)}.${q('phone')})`;
    return (
      `update ${q(t.requests)} set ${q('verify_status')} = ?, ${q('code_cipher')} = null, ${q('code_digest')} = ?, ${q('updated_at')} = ? ` +
      `where ${q('verify_status')} = ? and ${q('phone')} in ${inList(newest.size)} and ${bound}`
    );
  });
  const bindings: Knex.RawBinding[] = ['superseded', SPENT_DIGEST, now, 'pending', ...newest.keys()];
  if (dialect === 'mysql') for (const [phone, id] of newest) bindings.push(phone, id);
  return changedRows(dialect, await knex.raw(sql, bindings));
}

/**
 * Supersedes every pending request of the number older than its newest, on every database (a
 * supersede that waited for a request made just before, which may have a larger id than the
 * caller's: lib/core/supersede-plan.ts). On MySQL the newest id is read first; a request inserted
 * after that read supersedes this number's older ones itself.
 */
export async function supersedeBelowNewest(knex: Knex, t: OtpTableNames, phone: string, now: number): Promise<number> {
  // Elsewhere the statement bounds by the number's newest itself and reads no id.
  if (dialectOf(knex) !== 'mysql') return supersedeOlderMany(knex, t, [{ phone, id: 0 }], now);
  const row: Raw | undefined = await knex<Raw>(t.requests).where({ phone }).max({ id: 'id' }).first();
  const newest = numOrNull(row?.id);
  return newest === null ? 0 : supersedeOlderMany(knex, t, [{ phone, id: newest }], now);
}

/** Lock rows read along with each request: counters (by name) of the number, and its failure-budget row. */
export interface LockJoin {
  /** Counter names whose `<name>:<phone>` rows are read (letters only). */
  readonly counters: readonly string[];
  /** Read the failure-budget row too. */
  readonly failureBudget: boolean;
}

export interface RequestWithLocks {
  readonly row: RequestRow;
  /** The number's lock rows, as read with the request. */
  readonly locks: LockState;
}

/**
 * The newest request of each of several numbers, with each number's lock rows, in one statement:
 * the newest id per number from the (phone, id) index, those rows by primary key, and left joins
 * on the lock tables' primary keys. Answers by phone; a number with no request is absent.
 */
export async function latestRequestsWithLocks(knex: Knex, t: OtpTableNames, phones: readonly string[], join: LockJoin): Promise<Map<string, RequestWithLocks>> {
  const { sql, dialect } = statement(knex, `latest-many\0${t.requests}\0${join.failureBudget ? t.failures : ''}\0${t.limits}\0${join.counters.join(',')}\0${phones.length}`, (q, d) => {
    const columns = REQUEST_COLUMNS.map((c) => `${q('r')}.${q(c)}`);
    let from =
      `(select max(${q('id')}) as ${q('id')} from ${q(t.requests)} where ${q('phone')} in (${phones.map(() => '?').join(', ')}) group by ${q('phone')}) as ${q('m')} ` +
      `join ${q(t.requests)} as ${q('r')} on ${q('r')}.${q('id')} = ${q('m')}.${q('id')}`;
    if (join.failureBudget) {
      columns.push(`${q('f')}.${q('phone')} as ${q('lk_f_phone')}`, `${q('f')}.${q('failures')} as ${q('lk_f_failures')}`, `${q('f')}.${q('locked_until')} as ${q('lk_f_locked_until')}`);
      from += ` left join ${q(t.failures)} as ${q('f')} on ${q('f')}.${q('phone')} = ${q('r')}.${q('phone')}`;
    }
    join.counters.forEach((name, i) => {
      const prefix = counterRowKey(name, '');
      if (!/^[a-z]+:$/.test(prefix)) throw new Error(`counter name "${name}" must be letters only`);
      const l = q(`l${i}`);
      const key = d === 'mysql' ? `concat('${prefix}', ${q('r')}.${q('phone')})` : `'${prefix}' || ${q('r')}.${q('phone')}`;
      columns.push(`${l}.${q('key')} as ${q(`lk_${i}_key`)}`, `${l}.${q('points')} as ${q(`lk_${i}_points`)}`, `${l}.${q('expire')} as ${q(`lk_${i}_expire`)}`);
      from += ` left join ${q(t.limits)} as ${l} on ${l}.${q('key')} = ${key}`;
    });
    return `select ${columns.join(', ')} from ${from}`;
  });
  const found = new Map<string, RequestWithLocks>();
  for (const raw of rowsOf(dialect, await knex.raw(sql, [...phones]))) {
    const row = toRequestRow(raw);
    const counters = new Map<string, { points: unknown; expire: unknown }>();
    join.counters.forEach((name, i) => {
      const key = raw[`lk_${i}_key`];
      if (key !== null && key !== undefined) counters.set(name, { points: raw[`lk_${i}_points`], expire: raw[`lk_${i}_expire`] });
    });
    const failures = raw.lk_f_phone === null || raw.lk_f_phone === undefined ? undefined : { failures: num(raw.lk_f_failures), lockedUntil: numOrNull(raw.lk_f_locked_until) };
    found.set(row.phone, { row, locks: { counters, failures } });
  }
  return found;
}

export async function requestByRequestId(knex: Knex, t: OtpTableNames, requestId: string): Promise<RequestRow | undefined> {
  const row = (await knex(t.requests).where({ request_id: requestId }).first()) as Raw | undefined;
  return row === undefined ? undefined : toRequestRow(row);
}

/**
 * Sends and verified sends of a number range since a moment (the pumping breaker's judgement).
 * `phone LIKE 'range%'` is a range scan of the (phone, id) index.
 */
export async function conversionSince(knex: Knex, t: OtpTableNames, range: string, since: number): Promise<{ sent: number; verified: number }> {
  const row: Raw | undefined = await knex<Raw>(t.requests)
    .where('phone', 'like', `${range.replace(/[^+0-9]/g, '')}%`)
    .andWhere('created_at', '>=', since)
    .first(knex.raw('count(*) as sent'), knex.raw("sum(case when verify_status = 'verified' then 1 else 0 end) as verified"));
  return { sent: num(row?.sent ?? 0), verified: num(row?.verified ?? 0) };
}
