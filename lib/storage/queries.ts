/**
 * Every statement the kit runs, one named function each, `knex` passed in. The conditions that
 * make a change safe across processes (attempt caps, expiry, single consume, lease fencing) are in
 * the WHERE clauses, and callers act on the affected-row count, never on an earlier read.
 */
import type { Knex } from 'knex';
import type { Channel, DeliveryStatus } from '../types.js';
import { dialectOf } from './db.js';
import type { OtpTableNames } from './migrations.js';

export interface RequestRow {
  readonly id: number;
  readonly requestId: string;
  readonly phone: string;
  readonly channel: Channel;
  readonly purpose: string;
  readonly chain: readonly string[];
  readonly provider: string | null;
  readonly providerRef: string | null;
  readonly codeOwner: 'kit' | 'provider';
  readonly codeDigest: string;
  readonly codeCipher: string | null;
  readonly messageTemplate: string;
  readonly status: DeliveryStatus;
  readonly sendAttempts: number;
  readonly nextAttemptAt: number | null;
  readonly leaseToken: string | null;
  readonly leaseExpiresAt: number | null;
  readonly lastError: string | null;
  readonly verifyStatus: 'pending' | 'verified' | 'superseded';
  readonly attempts: number;
  readonly verifiedAt: number | null;
  readonly tokenUsedAt: number | null;
  readonly expiresAt: number;
  readonly createdAt: number;
}

/** A row as the driver returns it. */
export type Raw = Record<string, unknown>;

/** Column readers: pg returns BIGINT as strings, the drivers differ on NULL and numbers. */
export const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
export const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
export const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v));

/** pg returns BIGINT as strings and the drivers differ in naming; one mapping for all three. */
export function toRequestRow(r: Raw): RequestRow {
  return {
    id: num(r.id),
    requestId: String(r.request_id),
    phone: String(r.phone),
    channel: String(r.channel) as Channel,
    purpose: String(r.purpose),
    chain: String(r.chain).split(',').filter(Boolean),
    provider: strOrNull(r.provider),
    providerRef: strOrNull(r.provider_ref),
    codeOwner: r.code_owner === 'provider' ? 'provider' : 'kit',
    codeDigest: String(r.code_digest),
    codeCipher: strOrNull(r.code_cipher),
    messageTemplate: String(r.message_template),
    status: String(r.status) as DeliveryStatus,
    sendAttempts: num(r.send_attempts),
    nextAttemptAt: numOrNull(r.next_attempt_at),
    leaseToken: strOrNull(r.lease_token),
    leaseExpiresAt: numOrNull(r.lease_expires_at),
    lastError: strOrNull(r.last_error),
    verifyStatus: String(r.verify_status) as RequestRow['verifyStatus'],
    attempts: num(r.attempts),
    verifiedAt: numOrNull(r.verified_at),
    tokenUsedAt: numOrNull(r.token_used_at),
    expiresAt: num(r.expires_at),
    createdAt: num(r.created_at),
  };
}

/**
 * The hot statements are fixed SQL strings, built once per dialect, table and shape and run with
 * `knex.raw` and `?` bindings: the same SQL as the query builder wrote, without building it on every
 * request (Knex's builder was a large share of the server's CPU per send and verify).
 */
const statements = new Map<string, string>();

function statement(knex: Knex, key: string, build: (q: (name: string) => string, dialect: ReturnType<typeof dialectOf>) => string): { sql: string; dialect: ReturnType<typeof dialectOf> } {
  const dialect = dialectOf(knex);
  const full = `${dialect}\0${key}`;
  let sql = statements.get(full);
  if (sql === undefined) {
    const quote = dialect === 'mysql' ? '`' : '"';
    sql = build((name) => quote + name.split(quote).join(quote + quote) + quote, dialect);
    statements.set(full, sql);
  }
  return { sql, dialect };
}

/** Rows changed by a raw UPDATE, as each driver reports them (the count the builder returned). */
function changedRows(dialect: ReturnType<typeof dialectOf>, result: unknown): number {
  if (dialect === 'mysql') return num(((result as unknown[])[0] as { affectedRows?: unknown } | undefined)?.affectedRows ?? 0);
  if (dialect === 'postgres') return num((result as { rowCount?: unknown }).rowCount ?? 0);
  return num((result as { changes?: unknown }).changes ?? 0);
}

/** Rows of a raw SELECT (or RETURNING), as each driver reports them. */
export function rowsOf(dialect: ReturnType<typeof dialectOf>, result: unknown): Raw[] {
  if (dialect === 'mysql') return (result as [Raw[]])[0];
  if (dialect === 'postgres') return (result as { rows: Raw[] }).rows;
  return result as Raw[];
}

/** A fenced UPDATE of the given columns, one cached string per table, column list and condition. */
async function updateWhere(knex: Knex, table: string, set: Record<string, unknown>, where: string, whereKey: string, whereBindings: readonly Knex.RawBinding[]): Promise<number> {
  const columns = Object.keys(set);
  const { sql, dialect } = statement(knex, `update\0${table}\0${columns.join(',')}\0${whereKey}`, (q) => `update ${q(table)} set ${columns.map((c) => `${q(c)} = ?`).join(', ')} where ${where.replace(/\{([^{}]+)\}/g, (_m, c: string) => q(c))}`);
  const result: unknown = await knex.raw(sql, [...(Object.values(set) as Knex.RawBinding[]), ...whereBindings]);
  return changedRows(dialect, result);
}

export interface NewRequest {
  readonly requestId: string;
  readonly phone: string;
  readonly channel: Channel;
  readonly purpose: string;
  readonly chain: readonly string[];
  readonly codeDigest: string;
  readonly codeCipher: string;
  readonly messageTemplate: string;
  readonly leaseOwner: string;
  readonly leaseToken: string;
  readonly leaseExpiresAt: number;
  readonly clientIp: string | null;
  readonly expiresAt: number;
  readonly now: number;
}

const REQUEST_INSERT_COLUMNS = [
  'request_id', 'phone', 'channel', 'purpose', 'chain', 'code_owner', 'code_digest', 'code_cipher', 'message_template', 'status', 'send_attempts',
  'next_attempt_at', 'lease_owner', 'lease_token', 'lease_expires_at', 'verify_status', 'attempts', 'client_ip', 'expires_at', 'created_at', 'updated_at',
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
    r.requestId, r.phone, r.channel, r.purpose, r.chain.join(','), r.codeDigest, r.codeCipher, r.messageTemplate,
    r.leaseExpiresAt, r.leaseOwner, r.leaseToken, r.leaseExpiresAt, r.clientIp, r.expiresAt, r.now, r.now,
  );
  return out;
}

/**
 * Inserts a request in state `sending` under the caller's lease. `next_attempt_at` is the lease
 * expiry, so if this process dies mid-send the retry poller takes the row over. Returns the row id.
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
 * One live request per number: every older pending request of the number is superseded. Ordered
 * by the database's own id, so two concurrent sends agree on which one is newest.
 */
export async function supersedeOlder(knex: Knex, t: OtpTableNames, phone: string, id: number, now: number): Promise<number> {
  return updateWhere(knex, t.requests, { verify_status: 'superseded', code_cipher: null, updated_at: now }, '{phone} = ? and {verify_status} = ? and {id} < ?', 'supersede', [phone, 'pending', id]);
}

/** `supersedeOlder` for several new requests in one statement (each: its phone and its own id). */
export async function supersedeOlderMany(knex: Knex, t: OtpTableNames, fresh: ReadonlyArray<{ readonly phone: string; readonly id: number }>, now: number): Promise<number> {
  const { sql, dialect } = statement(knex, `supersede-many\0${t.requests}\0${fresh.length}`, (q) => {
    const one = `(${q('phone')} = ? and ${q('id')} < ?)`;
    return `update ${q(t.requests)} set ${q('verify_status')} = ?, ${q('code_cipher')} = null, ${q('updated_at')} = ? where ${q('verify_status')} = ? and (${fresh.map(() => one).join(' or ')})`;
  });
  const bindings: Knex.RawBinding[] = ['superseded', now, 'pending'];
  for (const f of fresh) bindings.push(f.phone, f.id);
  return changedRows(dialect, await knex.raw(sql, bindings));
}

/** The newest request for a number (the only one that can be live). */
export async function latestRequest(knex: Knex, t: OtpTableNames, phone: string): Promise<RequestRow | undefined> {
  const row = (await knex(t.requests).where({ phone }).orderBy('id', 'desc').first()) as Raw | undefined;
  return row === undefined ? undefined : toRequestRow(row);
}

/** The columns `toRequestRow` reads (not the stored provider traffic, which verify never needs). */
const REQUEST_COLUMNS = [
  'id', 'request_id', 'phone', 'channel', 'purpose', 'chain', 'provider', 'provider_ref', 'code_owner', 'code_digest', 'code_cipher', 'message_template',
  'status', 'send_attempts', 'next_attempt_at', 'lease_token', 'lease_expires_at', 'last_error', 'verify_status', 'attempts', 'verified_at', 'token_used_at',
  'expires_at', 'created_at',
] as const;

/** Lock rows to read along with each request: limits rows keyed `<prefix><phone>`, and the failure-budget row. */
export interface LockJoin {
  readonly limitsTable: string;
  /** Row-key prefixes of the number's lock counters, e.g. `vl:` (letters and a colon only). */
  readonly keyPrefixes: readonly string[];
  readonly failuresTable: string | undefined;
}

export interface RequestWithLocks {
  readonly row: RequestRow;
  /** The number's limits rows by key, and its failure-budget row, as read with the request. */
  readonly locks: {
    readonly limits: ReadonlyMap<string, { readonly points: unknown; readonly expire: unknown }>;
    readonly failures: { readonly failures: number; readonly lockedUntil: number | null } | undefined;
  };
}

/**
 * The newest request of each of several numbers, with each number's lock rows, in one statement:
 * the newest id per number from the (phone, id) index, those rows by primary key, and left joins
 * on the lock tables' primary keys. Answers by phone; a number with no request is absent.
 */
export async function latestRequestsWithLocks(knex: Knex, t: OtpTableNames, phones: readonly string[], join: LockJoin): Promise<Map<string, RequestWithLocks>> {
  const { sql, dialect } = statement(knex, `latest-many\0${t.requests}\0${join.failuresTable ?? ''}\0${join.limitsTable}\0${join.keyPrefixes.join(',')}\0${phones.length}`, (q, d) => {
    const columns = REQUEST_COLUMNS.map((c) => `${q('r')}.${q(c)}`);
    let from =
      `(select max(${q('id')}) as ${q('id')} from ${q(t.requests)} where ${q('phone')} in (${phones.map(() => '?').join(', ')}) group by ${q('phone')}) as ${q('m')} ` +
      `join ${q(t.requests)} as ${q('r')} on ${q('r')}.${q('id')} = ${q('m')}.${q('id')}`;
    if (join.failuresTable !== undefined) {
      columns.push(`${q('f')}.${q('phone')} as ${q('lk_f_phone')}`, `${q('f')}.${q('failures')} as ${q('lk_f_failures')}`, `${q('f')}.${q('locked_until')} as ${q('lk_f_locked_until')}`);
      from += ` left join ${q(join.failuresTable)} as ${q('f')} on ${q('f')}.${q('phone')} = ${q('r')}.${q('phone')}`;
    }
    join.keyPrefixes.forEach((prefix, i) => {
      if (!/^[a-z]+:$/.test(prefix)) throw new Error(`lock key prefix "${prefix}" must be letters and a colon`);
      const l = q(`l${i}`);
      const key = d === 'mysql' ? `concat('${prefix}', ${q('r')}.${q('phone')})` : `'${prefix}' || ${q('r')}.${q('phone')}`;
      columns.push(`${l}.${q('key')} as ${q(`lk_${i}_key`)}`, `${l}.${q('points')} as ${q(`lk_${i}_points`)}`, `${l}.${q('expire')} as ${q(`lk_${i}_expire`)}`);
      from += ` left join ${q(join.limitsTable)} as ${l} on ${l}.${q('key')} = ${key}`;
    });
    return `select ${columns.join(', ')} from ${from}`;
  });
  const found = new Map<string, RequestWithLocks>();
  for (const raw of rowsOf(dialect, await knex.raw(sql, [...phones]))) {
    const row = toRequestRow(raw);
    const limits = new Map<string, { points: unknown; expire: unknown }>();
    join.keyPrefixes.forEach((_prefix, i) => {
      const key = raw[`lk_${i}_key`];
      if (key !== null && key !== undefined) limits.set(strOrNull(key) ?? '', { points: raw[`lk_${i}_points`], expire: raw[`lk_${i}_expire`] });
    });
    const failures = raw.lk_f_phone === null || raw.lk_f_phone === undefined ? undefined : { failures: num(raw.lk_f_failures), lockedUntil: numOrNull(raw.lk_f_locked_until) };
    found.set(row.phone, { row, locks: { limits, failures } });
  }
  return found;
}

export async function requestByRequestId(knex: Knex, t: OtpTableNames, requestId: string): Promise<RequestRow | undefined> {
  const row = (await knex(t.requests).where({ request_id: requestId }).first()) as Raw | undefined;
  return row === undefined ? undefined : toRequestRow(row);
}

/** The conditions under which a request is live; repeated in every verify UPDATE. */
const LIVE = '{id} = ? and {verify_status} = ? and {expires_at} > ? and {attempts} < ? and {status} in (?, ?, ?)';
const liveBindings = (id: number, now: number, maxAttempts: number): Knex.RawBinding[] => [id, 'pending', now, maxAttempts, 'sending', 'queued', 'sent'];

/** Counts one attempt if the request is still live and under the cap. True if counted. */
export async function countAttempt(knex: Knex, t: OtpTableNames, id: number, now: number, maxAttempts: number): Promise<boolean> {
  const { sql, dialect } = statement(knex, `count\0${t.requests}`, (q) =>
    `update ${q(t.requests)} set ${q('attempts')} = ${q('attempts')} + 1, ${q('updated_at')} = ? where ${LIVE.replace(/\{([^{}]+)\}/g, (_m, c: string) => q(c))}`,
  );
  return changedRows(dialect, await knex.raw(sql, [now, ...liveBindings(id, now, maxAttempts)])) === 1;
}

/**
 * Consumes the request: exactly one caller gets `true`, however many verify at once. With
 * `attemptCounted` the attempt was already reserved (provider-checked codes), so the cap test is
 * "not above the cap" instead of "below it".
 */
export async function consumeRequest(
  knex: Knex,
  t: OtpTableNames,
  id: number,
  now: number,
  maxAttempts: number,
  attemptCounted: boolean,
  budget?: { readonly table: string; readonly max: number; readonly phone: string },
): Promise<boolean> {
  const set = { verify_status: 'verified', verified_at: now, code_cipher: null, updated_at: now };
  const live = liveBindings(id, now, attemptCounted ? maxAttempts + 1 : maxAttempts);
  if (budget === undefined) return (await updateWhere(knex, t.requests, set, LIVE, 'consume', live)) === 1;
  // The number's failure budget must be unspent at this very moment (no lock in force, fewer
  // than `max` failures and guesses in flight), in the same statement as the consume.
  const spent = `not exists (select 1 from {${budget.table}} where {phone} = ? and (({locked_until} is not null and {locked_until} > ?) or ({locked_until} is null and {failures} >= ?)))`;
  return (await updateWhere(knex, t.requests, set, `${LIVE} and ${spent}`, `consume\0${budget.table}`, [...live, budget.phone, now, budget.max])) === 1;
}

/** Spends a verification token once: true for the first use only, in any process. */
export async function spendToken(knex: Knex, t: OtpTableNames, requestId: string, phone: string, now: number): Promise<boolean> {
  const where = '{request_id} = ? and {phone} = ? and {verify_status} = ? and {token_used_at} is null';
  return (await updateWhere(knex, t.requests, { token_used_at: now, updated_at: now }, where, 'spend', [requestId, phone, 'verified'])) === 1;
}

export interface DeliveryPatch {
  readonly status: DeliveryStatus;
  readonly sendAttempts: number;
  readonly nextAttemptAt: number | null;
  readonly provider?: string | null;
  readonly providerRef?: string | null;
  readonly codeOwner?: 'kit' | 'provider';
  readonly keepCipher: boolean;
  readonly lastError: string | null;
  readonly providerRequest?: string | null;
  readonly providerResponse?: string | null;
  readonly now: number;
}

/**
 * Writes the outcome of a delivery attempt, fenced by the lease token: a worker whose lease ran
 * out (and was taken over) changes nothing. Releases the lease. True if written.
 */
export async function finishAttempt(knex: Knex, t: OtpTableNames, id: number, leaseToken: string, p: DeliveryPatch): Promise<boolean> {
  const patch: Record<string, unknown> = {
    status: p.status,
    send_attempts: p.sendAttempts,
    next_attempt_at: p.nextAttemptAt,
    lease_owner: null,
    lease_token: null,
    lease_expires_at: null,
    last_error: p.lastError,
    updated_at: p.now,
  };
  if (!p.keepCipher) patch.code_cipher = null;
  if (p.provider !== undefined) patch.provider = p.provider;
  if (p.providerRef !== undefined) patch.provider_ref = p.providerRef;
  if (p.codeOwner !== undefined) patch.code_owner = p.codeOwner;
  if (p.providerRequest !== undefined) patch.provider_request = p.providerRequest;
  if (p.providerResponse !== undefined) patch.provider_response = p.providerResponse;
  return (await updateWhere(knex, t.requests, patch, '{id} = ? and {lease_token} = ?', 'fenced', [id, leaseToken])) === 1;
}

/** A delivered attempt to write with others of its batch (`finishSentMany`). */
export interface SentMark {
  readonly id: number;
  readonly leaseToken: string;
  readonly sendAttempts: number;
  readonly provider: string;
  readonly providerRef: string | null;
  readonly codeOwner: 'kit' | 'provider';
  readonly lastError: string | null;
  readonly providerRequest: string | null;
  readonly providerResponse: string | null;
}

/** Per-row text columns of `finishSentMany`, set by `case id when … then … end`. */
const SENT_CASES = ['provider', 'provider_ref', 'code_owner', 'last_error', 'provider_request', 'provider_response'] as const;
const sentValues = (m: SentMark): Knex.RawBinding[] => [m.provider, m.providerRef, m.codeOwner, m.lastError, m.providerRequest, m.providerResponse];

/**
 * `finishAttempt` with status `sent` for several rows in one statement, each fenced by its own
 * lease token. All marks must share `sendAttempts` (the caller groups them). Answers, per mark,
 * whether it was written. PostgreSQL and SQLite say which rows changed (RETURNING); on MySQL and
 * MariaDB a short count is explained by reading the rows again: a row that no longer holds a lease
 * and says `sent` was written by this statement (the caller only batches marks whose lease is far
 * from its end, so no other worker can have taken the row over and finished it meanwhile).
 */
export async function finishSentMany(knex: Knex, t: OtpTableNames, marks: readonly SentMark[], now: number): Promise<boolean[]> {
  const dialect = dialectOf(knex);
  const { sql } = statement(knex, `sent-many\0${t.requests}\0${marks.length}`, (q) => {
    const cases = SENT_CASES.map((c) => `${q(c)} = case ${q('id')}${marks.map(() => ' when ? then ?').join('')} end`);
    const fence = marks.map(() => `(${q('id')} = ? and ${q('lease_token')} = ?)`).join(' or ');
    return (
      `update ${q(t.requests)} set ${q('status')} = ?, ${q('send_attempts')} = ?, ${q('next_attempt_at')} = null, ${q('lease_owner')} = null, ` +
      `${q('lease_token')} = null, ${q('lease_expires_at')} = null, ${q('code_cipher')} = null, ${q('updated_at')} = ?, ${cases.join(', ')} where ${fence}` +
      (dialect === 'mysql' ? '' : ` returning ${q('id')}`)
    );
  });
  const bindings: Knex.RawBinding[] = ['sent', marks[0]?.sendAttempts ?? 1, now];
  const values = marks.map(sentValues);
  SENT_CASES.forEach((_c, column) => {
    marks.forEach((m, i) => bindings.push(m.id, values[i]?.[column] ?? null));
  });
  for (const m of marks) bindings.push(m.id, m.leaseToken);
  const result: unknown = await knex.raw(sql, bindings);
  if (dialect !== 'mysql') {
    const written = new Set(rowsOf(dialect, result).map((r) => num(r.id)));
    return marks.map((m) => written.has(m.id));
  }
  if (changedRows(dialect, result) === marks.length) return marks.map(() => true);
  const rows: Raw[] = await knex<Raw>(t.requests).whereIn('id', marks.map((m) => m.id)).select('id', 'status', 'lease_token');
  const mine = new Set(rows.filter((r) => r.status === 'sent' && (r.lease_token === null || r.lease_token === undefined)).map((r) => num(r.id)));
  return marks.map((m) => mine.has(m.id));
}

export async function readSetting(knex: Knex, t: OtpTableNames, key: string): Promise<string | undefined> {
  const row: Raw | undefined = await knex<Raw>(t.settings).where(t.settingsKeyColumn, key).first(t.settingsValueColumn);
  return strOrNull(row?.[t.settingsValueColumn]) ?? undefined;
}

export async function writeSetting(knex: Knex, t: OtpTableNames, key: string, value: string): Promise<void> {
  await knex(t.settings)
    .insert({ [t.settingsKeyColumn]: key, [t.settingsValueColumn]: value })
    .onConflict(t.settingsKeyColumn)
    .merge([t.settingsValueColumn]);
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
