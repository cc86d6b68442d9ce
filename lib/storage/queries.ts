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
function rowsOf(dialect: ReturnType<typeof dialectOf>, result: unknown): Raw[] {
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

/**
 * Inserts a request in state `sending` under the caller's lease. `next_attempt_at` is the lease
 * expiry, so if this process dies mid-send the retry poller takes the row over. Returns the row id.
 */
export async function insertRequest(knex: Knex, t: OtpTableNames, r: NewRequest): Promise<number> {
  const row = {
    request_id: r.requestId,
    phone: r.phone,
    channel: r.channel,
    purpose: r.purpose,
    chain: r.chain.join(','),
    code_owner: 'kit',
    code_digest: r.codeDigest,
    code_cipher: r.codeCipher,
    message_template: r.messageTemplate,
    status: 'sending',
    send_attempts: 0,
    next_attempt_at: r.leaseExpiresAt,
    lease_owner: r.leaseOwner,
    lease_token: r.leaseToken,
    lease_expires_at: r.leaseExpiresAt,
    verify_status: 'pending',
    attempts: 0,
    client_ip: r.clientIp,
    expires_at: r.expiresAt,
    created_at: r.now,
    updated_at: r.now,
  };
  const columns = Object.keys(row);
  const { sql, dialect } = statement(knex, `insert\0${t.requests}`, (q, d) =>
    // MySQL has no RETURNING; its driver answers the insert id instead.
    `insert into ${q(t.requests)} (${columns.map(q).join(', ')}) values (${columns.map(() => '?').join(', ')})${d === 'mysql' ? '' : ` returning ${q('id')}`}`,
  );
  const result: unknown = await knex.raw(sql, Object.values(row) as Knex.RawBinding[]);
  if (dialect === 'mysql') return num(((result as unknown[])[0] as { insertId?: unknown }).insertId);
  return num(rowsOf(dialect, result)[0]?.id);
}

/**
 * One live request per number: every older pending request of the number is superseded. Ordered
 * by the database's own id, so two concurrent sends agree on which one is newest.
 */
export async function supersedeOlder(knex: Knex, t: OtpTableNames, phone: string, id: number, now: number): Promise<number> {
  return updateWhere(knex, t.requests, { verify_status: 'superseded', code_cipher: null, updated_at: now }, '{phone} = ? and {verify_status} = ? and {id} < ?', 'supersede', [phone, 'pending', id]);
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

/** Lock rows to read along with a request (the abuse guard's `LockReads`). */
export interface LockJoin {
  readonly limitsTable: string;
  readonly limitKeys: readonly string[];
  readonly failuresTable: string | undefined;
}

export interface RequestWithLocks {
  readonly row: RequestRow | undefined;
  /** Read only when the request was found: limits rows by key, and the failure-budget row. */
  readonly locks: {
    readonly limits: ReadonlyMap<string, { readonly points: unknown; readonly expire: unknown }>;
    readonly failures: { readonly failures: number; readonly lockedUntil: number | null } | undefined;
  };
}

/**
 * The newest request for a number and, in the same statement, the number's lock rows (left
 * joins on primary keys), so a verify needs no statement of its own to check them.
 */
export async function latestRequestWithLocks(knex: Knex, t: OtpTableNames, phone: string, join: LockJoin): Promise<RequestWithLocks> {
  const { sql, dialect } = statement(knex, `lookup\0${t.requests}\0${join.failuresTable ?? ''}\0${join.limitsTable}\0${join.limitKeys.length}`, (q) => {
    const columns = REQUEST_COLUMNS.map((c) => `${q('r')}.${q(c)}`);
    let from = `${q(t.requests)} as ${q('r')}`;
    if (join.failuresTable !== undefined) {
      columns.push(`${q('f')}.${q('phone')} as ${q('lk_f_phone')}`, `${q('f')}.${q('failures')} as ${q('lk_f_failures')}`, `${q('f')}.${q('locked_until')} as ${q('lk_f_locked_until')}`);
      from += ` left join ${q(join.failuresTable)} as ${q('f')} on ${q('f')}.${q('phone')} = ${q('r')}.${q('phone')}`;
    }
    join.limitKeys.forEach((_key, i) => {
      const l = q(`l${i}`);
      columns.push(`${l}.${q('key')} as ${q(`lk_${i}_key`)}`, `${l}.${q('points')} as ${q(`lk_${i}_points`)}`, `${l}.${q('expire')} as ${q(`lk_${i}_expire`)}`);
      from += ` left join ${q(join.limitsTable)} as ${l} on ${l}.${q('key')} = ?`;
    });
    return `select ${columns.join(', ')} from ${from} where ${q('r')}.${q('phone')} = ? order by ${q('r')}.${q('id')} desc limit 1`;
  });
  const rows = rowsOf(dialect, await knex.raw(sql, [...join.limitKeys, phone]));
  const raw = rows[0];
  const limits = new Map<string, { points: unknown; expire: unknown }>();
  if (raw === undefined) return { row: undefined, locks: { limits, failures: undefined } };
  join.limitKeys.forEach((key, i) => {
    if (raw[`lk_${i}_key`] !== null && raw[`lk_${i}_key`] !== undefined) limits.set(key, { points: raw[`lk_${i}_points`], expire: raw[`lk_${i}_expire`] });
  });
  const failures =
    raw.lk_f_phone === null || raw.lk_f_phone === undefined ? undefined : { failures: num(raw.lk_f_failures), lockedUntil: numOrNull(raw.lk_f_locked_until) };
  return { row: toRequestRow(raw), locks: { limits, failures } };
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
