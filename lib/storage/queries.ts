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
  // MySQL has no RETURNING; its driver answers the insert id instead.
  const result: unknown[] = dialectOf(knex) === 'mysql' ? await knex(t.requests).insert(row) : await knex(t.requests).insert(row).returning('id');
  const first = result[0];
  return num(typeof first === 'object' && first !== null ? (first as Raw).id : first);
}

/**
 * One live request per number: every older pending request of the number is superseded. Ordered
 * by the database's own id, so two concurrent sends agree on which one is newest.
 */
export async function supersedeOlder(knex: Knex, t: OtpTableNames, phone: string, id: number, now: number): Promise<number> {
  return knex(t.requests)
    .where({ phone, verify_status: 'pending' })
    .andWhere('id', '<', id)
    .update({ verify_status: 'superseded', code_cipher: null, updated_at: now });
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
  const q = knex({ r: t.requests })
    .select(REQUEST_COLUMNS.map((c) => `r.${c}`))
    .where('r.phone', phone)
    .orderBy('r.id', 'desc')
    .limit(1);
  if (join.failuresTable !== undefined) {
    q.leftJoin({ f: join.failuresTable }, 'f.phone', 'r.phone').select({ lk_f_phone: 'f.phone', lk_f_failures: 'f.failures', lk_f_locked_until: 'f.locked_until' });
  }
  join.limitKeys.forEach((key, i) => {
    const alias = `l${i}`;
    q.leftJoin({ [alias]: join.limitsTable }, (on) => {
      on.on(`${alias}.key`, '=', knex.raw('?', [key]));
    }).select({ [`lk_${i}_key`]: `${alias}.key`, [`lk_${i}_points`]: `${alias}.points`, [`lk_${i}_expire`]: `${alias}.expire` });
  });
  const rows = (await q) as Raw[];
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
function live(q: Knex.QueryBuilder, id: number, now: number, maxAttempts: number): Knex.QueryBuilder {
  return q
    .where({ id, verify_status: 'pending' })
    .andWhere('expires_at', '>', now)
    .andWhere('attempts', '<', maxAttempts)
    .whereIn('status', ['sending', 'queued', 'sent']);
}

/** Counts one attempt if the request is still live and under the cap. True if counted. */
export async function countAttempt(knex: Knex, t: OtpTableNames, id: number, now: number, maxAttempts: number): Promise<boolean> {
  const n = await live(knex(t.requests), id, now, maxAttempts).update({ attempts: knex.raw('attempts + 1'), updated_at: now });
  return n === 1;
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
  const q = live(knex(t.requests), id, now, attemptCounted ? maxAttempts + 1 : maxAttempts);
  if (budget !== undefined) {
    // The number's failure budget must be unspent at this very moment (no lock in force, fewer
    // than `max` failures and guesses in flight), in the same statement as the consume.
    q.whereNotExists((sub) => {
      sub
        .select(knex.raw('1'))
        .from(budget.table)
        .where('phone', budget.phone)
        .andWhere((spent) => {
          spent
            .where((locked) => {
              void locked.whereNotNull('locked_until').andWhere('locked_until', '>', now);
            })
            .orWhere((full) => {
              void full.whereNull('locked_until').andWhere('failures', '>=', budget.max);
            });
        });
    });
  }
  const n = await q.update({
    verify_status: 'verified',
    verified_at: now,
    code_cipher: null,
    updated_at: now,
  });
  return n === 1;
}

/** Spends a verification token once: true for the first use only, in any process. */
export async function spendToken(knex: Knex, t: OtpTableNames, requestId: string, phone: string, now: number): Promise<boolean> {
  const n = await knex(t.requests)
    .where({ request_id: requestId, phone, verify_status: 'verified' })
    .whereNull('token_used_at')
    .update({ token_used_at: now, updated_at: now });
  return n === 1;
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
  const n = await knex(t.requests).where({ id, lease_token: leaseToken }).update(patch);
  return n === 1;
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
