/**
 * The verify statements: count an attempt, consume a request, spend a token. The conditions that
 * make them safe across processes (live, under the attempt cap, the number's failure budget not
 * spent) are in the WHERE clauses, and callers act on the affected-row count, never on a read.
 */
import type { Knex } from 'knex';
import type { OtpTableNames } from './migrations.js';
import { changedRows, quoteColumns, statement, updateWhere } from './sql.js';
import { SPENT_DIGEST } from './request-row.js';

/** The conditions under which a request is live; repeated in every verify UPDATE. */
const LIVE = '{id} = ? and {verify_status} = ? and {expires_at} > ? and {attempts} < ? and {status} in (?, ?, ?)';
const liveBindings = (id: number, now: number, maxAttempts: number): Knex.RawBinding[] => [id, 'pending', now, maxAttempts, 'sending', 'queued', 'sent'];

/**
 * The number's failure budget must be unspent at this very moment (no lock in force, fewer than
 * `max` failures and guesses in flight), in the same statement as the change.
 */
export interface BudgetCondition {
  readonly phone: string;
  readonly max: number;
}

function budgetClause(t: OtpTableNames): string {
  return `not exists (select 1 from {${t.failures}} where {phone} = ? and (({locked_until} is not null and {locked_until} > ?) or ({locked_until} is null and {failures} >= ?)))`;
}

function conditions(t: OtpTableNames, id: number, now: number, cap: number, budget: BudgetCondition | undefined): { where: string; key: string; bindings: Knex.RawBinding[] } {
  const live = liveBindings(id, now, cap);
  if (budget === undefined) return { where: LIVE, key: '', bindings: live };
  return { where: `${LIVE} and ${budgetClause(t)}`, key: t.failures, bindings: [...live, budget.phone, now, budget.max] };
}

/**
 * Counts one attempt if the request is still live, under the cap and (with `budget`) the number's
 * failure budget is not spent. True if counted.
 */
export async function countAttempt(knex: Knex, t: OtpTableNames, id: number, now: number, maxAttempts: number, budget?: BudgetCondition): Promise<boolean> {
  const c = conditions(t, id, now, maxAttempts, budget);
  const { sql, dialect } = statement(knex, `count\0${t.requests}\0${c.key}`, (q) =>
    `update ${q(t.requests)} set ${q('attempts')} = ${q('attempts')} + 1, ${q('updated_at')} = ? where ${quoteColumns(c.where, q)}`,
  );
  return changedRows(dialect, await knex.raw(sql, [now, ...c.bindings])) === 1;
}

/**
 * Consumes the request: exactly one caller gets `true`, however many verify at once. With
 * `attemptCounted` the attempt was already reserved (provider-checked codes), so the cap test is
 * "not above the cap" instead of "below it".
 */
export async function consumeRequest(knex: Knex, t: OtpTableNames, id: number, now: number, maxAttempts: number, attemptCounted: boolean, budget?: BudgetCondition): Promise<boolean> {
  const set = { verify_status: 'verified', verified_at: now, code_cipher: null, code_digest: SPENT_DIGEST, updated_at: now };
  const c = conditions(t, id, now, attemptCounted ? maxAttempts + 1 : maxAttempts, budget);
  return (await updateWhere(knex, t.requests, set, c.where, `consume\0${c.key}`, c.bindings)) === 1;
}

/**
 * Spends a verification token once: true for the first use only, in any process. The record is
 * bound to the token's phone and purpose, so a token re-signed for another purpose is refused.
 */
export async function spendToken(knex: Knex, t: OtpTableNames, requestId: string, phone: string, purpose: string, now: number): Promise<boolean> {
  const where = '{request_id} = ? and {phone} = ? and {purpose} = ? and {verify_status} = ? and {token_used_at} is null';
  return (await updateWhere(knex, t.requests, { token_used_at: now, updated_at: now }, where, 'spend', [requestId, phone, purpose, 'verified'])) === 1;
}
