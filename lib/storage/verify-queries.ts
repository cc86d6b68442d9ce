/**
 * The verify statements: count an attempt, consume a request (alone or a batch of them), spend a
 * token. The conditions that make them safe across processes (live, under the attempt cap, the
 * number's failure budget not spent) are in the WHERE clauses, and callers act on what the statement
 * itself changed (the affected-row count, the rows it returned, or its own tag), never on a read of
 * the state before it.
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { OtpTableNames } from './migrations.js';
import { changedRows, inList, num, perRow, quoteColumns, rowsOf, statement, updateWhere, type Raw } from './sql.js';
import { SPENT_DIGEST, taggedSpentDigest } from './request-row.js';

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
 * "not above the cap" instead of "below it". The statement is `consumeMany`'s, for one request.
 */
export async function consumeRequest(knex: Knex, t: OtpTableNames, id: number, now: number, maxAttempts: number, attemptCounted: boolean, budget?: BudgetCondition): Promise<boolean> {
  const [consumed] = await consumeMany(knex, t, [{ id, now, maxAttempts, attemptCounted, ...(budget === undefined ? {} : { budget }) }]);
  return consumed === true;
}

/** One consume of a batch (`consumeMany`): the arguments of `consumeRequest`. */
export interface ConsumeItem {
  readonly id: number;
  readonly now: number;
  readonly maxAttempts: number;
  readonly attemptCounted: boolean;
  readonly budget?: BudgetCondition;
}

/**
 * `consumeRequest` for several requests in one statement, each under its own conditions (found by
 * `id in (…)`, each row's conditions in a `case id when …`); answers,
 * per item, whether it consumed its request. The items must all have a budget condition or none
 * (the caller groups them), and their ids must differ (the caller answers a second consume of one
 * request in the same batch `false`: exactly one caller wins). PostgreSQL and SQLite say which rows
 * changed (RETURNING). MariaDB has no UPDATE … RETURNING: the statement writes a spent digest of
 * its own (as long as SPENT_DIGEST, so the row still shrinks), and a short count is explained by
 * reading which rows carry it; no other statement writes that value.
 */
export async function consumeMany(knex: Knex, t: OtpTableNames, items: readonly ConsumeItem[]): Promise<boolean[]> {
  const withBudget = items[0]?.budget !== undefined;
  const now = Math.max(...items.map((i) => i.now));
  const { sql, dialect } = statement(knex, `consume-many\0${t.requests}\0${withBudget ? t.failures : ''}\0${items.length}`, (q, d) => {
    const live = `${q('expires_at')} > ? and ${q('attempts')} < ?${withBudget ? ` and ${quoteColumns(budgetClause(t), q)}` : ''}`;
    return (
      `update ${q(t.requests)} set ${q('verify_status')} = ?, ${q('verified_at')} = ?, ${q('code_cipher')} = null, ${q('code_digest')} = ?, ${q('updated_at')} = ? ` +
      `where ${q('verify_status')} = ? and ${q('status')} in (?, ?, ?) and ${q('id')} in ${inList(items.length)} and ${perRow(q('id'), items.length, `(${live})`)}` +
      (d === 'mysql' ? '' : ` returning ${q('id')}`)
    );
  });
  const spent = dialect === 'mysql' ? taggedSpentDigest(randomBytes(8).toString('hex')) : SPENT_DIGEST;
  const bindings: Knex.RawBinding[] = ['verified', now, spent, now, 'pending', 'sending', 'queued', 'sent', ...items.map((i) => i.id)];
  for (const i of items) {
    bindings.push(i.id, i.now, i.attemptCounted ? i.maxAttempts + 1 : i.maxAttempts);
    if (i.budget !== undefined) bindings.push(i.budget.phone, i.now, i.budget.max);
  }
  const result: unknown = await knex.raw(sql, bindings);
  if (dialect !== 'mysql') {
    const consumed = new Set(rowsOf(dialect, result).map((r) => num(r.id)));
    return items.map((i) => consumed.has(i.id));
  }
  const changed = changedRows(dialect, result);
  if (changed === items.length || changed === 0) return items.map(() => changed > 0);
  const rows: Raw[] = await knex<Raw>(t.requests).whereIn('id', items.map((i) => i.id)).andWhere('code_digest', spent).select('id');
  const consumed = new Set(rows.map((r) => num(r.id)));
  return items.map((i) => consumed.has(i.id));
}

/**
 * Spends a verification token once: true for the first use only, in any process. The record is
 * bound to the token's phone and purpose, so a token re-signed for another purpose is refused.
 */
export async function spendToken(knex: Knex, t: OtpTableNames, requestId: string, phone: string, purpose: string, now: number): Promise<boolean> {
  const where = '{request_id} = ? and {phone} = ? and {purpose} = ? and {verify_status} = ? and {token_used_at} is null';
  return (await updateWhere(knex, t.requests, { token_used_at: now, updated_at: now }, where, 'spend', [requestId, phone, purpose, 'verified'])) === 1;
}
