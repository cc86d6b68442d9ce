/**
 * Writes of a delivery attempt's outcome, fenced by the lease token: a worker whose lease ran out
 * (and was taken over) changes nothing.
 */
import type { Knex } from 'knex';
import type { Channel, DeliveryStatus } from '../types.js';
import { dialectOf } from './db.js';
import type { OtpTableNames } from './migrations.js';
import { changedRows, inList, num, perRow, rowsOf, statement, updateWhere, type Raw } from './sql.js';

export interface DeliveryPatch {
  readonly status: DeliveryStatus;
  readonly sendAttempts: number;
  readonly nextAttemptAt: number | null;
  readonly provider?: string | null;
  readonly channel?: Channel;
  readonly providerRef?: string | null;
  readonly codeOwner?: 'kit' | 'provider';
  readonly keepCipher: boolean;
  readonly lastError: string | null;
  readonly providerRequest?: string | null;
  readonly providerResponse?: string | null;
  /** Workflow rows: when the next step is due (undefined: left as it is). */
  readonly stepDueAt?: number | null;
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
  if (p.channel !== undefined) patch.channel = p.channel;
  if (p.providerRef !== undefined) patch.provider_ref = p.providerRef;
  if (p.codeOwner !== undefined) patch.code_owner = p.codeOwner;
  if (p.providerRequest !== undefined) patch.provider_request = p.providerRequest;
  if (p.providerResponse !== undefined) patch.provider_response = p.providerResponse;
  if (p.stepDueAt !== undefined) patch.step_due_at = p.stepDueAt;
  return (await updateWhere(knex, t.requests, patch, '{id} = ? and {lease_token} = ?', 'fenced', [id, leaseToken])) === 1;
}

/** A delivered attempt to write with others of its batch (`finishSentMany`). */
export interface SentMark {
  readonly id: number;
  readonly leaseToken: string;
  readonly sendAttempts: number;
  readonly provider: string;
  /** The channel it went out on (a `channelFallback` step may differ from the asked one); left as it is when absent. */
  readonly channel?: Channel;
  readonly providerRef: string | null;
  readonly codeOwner: 'kit' | 'provider';
  readonly lastError: string | null;
  readonly providerRequest: string | null;
  readonly providerResponse: string | null;
  /** Keep the sealed code (a workflow step follows that may deliver it); such a mark is written alone. */
  readonly keepCipher?: boolean;
}

/** Per-row text columns of `finishSentMany`, set by `case id when … then … end` unless the batch agrees on them. */
const SENT_CASES = ['provider', 'channel', 'provider_ref', 'code_owner', 'last_error', 'provider_request', 'provider_response'] as const;
const sentValues = (m: SentMark): Array<string | null> => [m.provider, m.channel ?? null, m.providerRef, m.codeOwner, m.lastError, m.providerRequest, m.providerResponse];
/** `provider_ref`'s place in SENT_CASES: the one column that usually differs per row (a provider's message id). */
const REF_COLUMN = SENT_CASES.indexOf('provider_ref');

/**
 * Which columns the statement writes with one value for every row: `provider_ref` on its own, the
 * others together (so a batch size has at most four statement texts, not one per column subset).
 */
function uniformColumns(values: ReadonlyArray<ReadonlyArray<string | null>>): boolean[] {
  const same = SENT_CASES.map((_c, column) => values.every((v) => v[column] === values[0]?.[column]));
  const rest = same.every((s, column) => s || column === REF_COLUMN);
  return same.map((s, column) => (column === REF_COLUMN ? s : rest));
}

/**
 * `finishAttempt` with status `sent` for several rows in one statement, each fenced by its own
 * lease token. All marks must share `sendAttempts` (the caller groups them). Answers, per mark,
 * whether it was written. PostgreSQL and SQLite say which rows changed (RETURNING); on MySQL and
 * MariaDB a short count is explained by reading the rows again: a row that no longer holds a lease
 * and says `sent` was written by this statement (the request store only batches marks whose lease is far
 * from its end, so no other worker can have taken the row over and finished it meanwhile).
 *
 * The rows are found by `id in (…)` (one range per row on the primary key) and each must hold its own
 * token (`case id when … then lease_token = … end`), not by an OR of per-row conditions, whose range
 * analysis was a visible share of MariaDB's CPU per send; a column the batch agrees on is one value.
 */
export async function finishSentMany(knex: Knex, t: OtpTableNames, marks: readonly SentMark[], now: number): Promise<boolean[]> {
  const dialect = dialectOf(knex);
  const values = marks.map(sentValues);
  const uniform = uniformColumns(values);
  const shape = `${uniform[REF_COLUMN] === true ? 1 : 0}${uniform[0] === true ? 1 : 0}`;
  const { sql } = statement(knex, `sent-many\0${t.requests}\0${marks.length}\0${shape}`, (q) => {
    const sets = SENT_CASES.map((c, column) => {
      const value = uniform[column] === true ? '?' : perRow(q('id'), marks.length, '?');
      return c === 'channel' ? `${q(c)} = coalesce(${value}, ${q(c)})` : `${q(c)} = ${value}`;
    });
    return (
      `update ${q(t.requests)} set ${q('status')} = ?, ${q('send_attempts')} = ?, ${q('next_attempt_at')} = null, ${q('lease_owner')} = null, ` +
      `${q('lease_token')} = null, ${q('lease_expires_at')} = null, ${q('code_cipher')} = null, ${q('updated_at')} = ?, ${sets.join(', ')} ` +
      `where ${q('id')} in ${inList(marks.length)} and ${perRow(q('id'), marks.length, `${q('lease_token')} = ?`)}` +
      (dialect === 'mysql' ? '' : ` returning ${q('id')}`)
    );
  });
  const bindings: Knex.RawBinding[] = ['sent', marks[0]?.sendAttempts ?? 1, now];
  SENT_CASES.forEach((_c, column) => {
    if (uniform[column] === true) bindings.push(values[0]?.[column] ?? null);
    else marks.forEach((m, i) => bindings.push(m.id, values[i]?.[column] ?? null));
  });
  for (const m of marks) bindings.push(m.id);
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


/**
 * Whether each `leaseToken` still holds its row and the code is still wanted: false once it was taken
 * over, erased by `otp.forget()`, verified or superseded (a workflow step racing a verification is
 * never sent after it). Asked before a row read from the table goes to a provider; the checks of
 * the poller's attempts in flight share one statement. One answer per item, in order.
 */
export async function leasesHeld(knex: Knex, t: OtpTableNames, items: ReadonlyArray<{ readonly id: number; readonly leaseToken: string }>): Promise<boolean[]> {
  const rows: Raw[] = await knex<Raw>(t.requests).whereIn('id', [...new Set(items.map((i) => i.id))]).andWhere('verify_status', 'pending').select('id', 'lease_token');
  const holder = new Map(rows.map((r) => [num(r.id), r.lease_token]));
  return items.map((i) => holder.get(i.id) === i.leaseToken);
}
