/**
 * The end of requests, claimed exactly once. In one transaction: pick rows (the end sweep's due
 * rows, one number's rows for `forget`, the rows `otp.cancel` names), lock them (SKIP LOCKED for
 * the sweep, so several pollers share the work; SQLite takes its write lock first), set
 * `ended_at`/`end_outcome` on each WHERE `ended_at` IS NULL (the claim: only one writer ever
 * changes the row), and write the end events (outbox) and the rollup increments of the rows
 * claimed, so a crash loses all of it or none. `forget` deletes the picked rows in the same
 * transaction.
 */
import type { Knex } from 'knex';
import type { EndingRow, RequestEnd } from '../core/request-end.js';
import { retryConflicts } from './batcher.js';
import { dialectOf } from './db.js';
import type { OtpTableNames } from './migrations.js';
import { insertOutbox, type OutboxEntry } from './outbox-queries.js';
import { upsertRollups, type RollupIncrement } from './insights-queries.js';
import { num, numOrNull, strOrNull, type Raw } from './sql.js';

const ENDING_COLUMNS = [
  'id', 'request_id', 'phone', 'channel', 'purpose', 'chain', 'steps', 'provider', 'code_owner', 'status', 'send_attempts', 'verify_status', 'attempts', 'verified_at', 'expires_at', 'created_at', 'updated_at',
] as const;

function toEndingRow(r: Raw): EndingRow {
  return {
    id: num(r.id),
    requestId: String(r.request_id),
    phone: String(r.phone),
    channel: String(r.channel),
    purpose: String(r.purpose),
    chain: String(r.chain).split(',').filter(Boolean),
    steps: strOrNull(r.steps),
    provider: strOrNull(r.provider),
    codeOwner: r.code_owner === 'provider' ? 'provider' : 'kit',
    status: String(r.status),
    sendAttempts: num(r.send_attempts),
    verifyStatus: String(r.verify_status),
    attempts: num(r.attempts),
    verifiedAt: numOrNull(r.verified_at),
    expiresAt: num(r.expires_at),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

/** Which rows to pick. */
export type EndSelection =
  /** Rows that may have ended: not claimed, and expired (before `expiredBy`), no longer pending, or at the attempt cap. */
  | { readonly kind: 'due'; readonly expiredBy: number; readonly maxAttempts: number; readonly settledBy: number }
  /** Every row of one number (`forget`: they are deleted afterwards). */
  | { readonly kind: 'phone'; readonly phone: string }
  /** The live rows `otp.cancel` names, by request id or by number. */
  | { readonly kind: 'cancel'; readonly requestId?: string; readonly phone?: string };

export interface EndedRow {
  readonly row: EndingRow;
  readonly end: RequestEnd;
}

export interface EndBatch {
  /** How the kit ends each picked row (undefined: still live, left alone). */
  decide(row: EndingRow): RequestEnd | undefined;
  /** The events and rollup increments of the rows claimed, written in the same transaction. */
  effects(ended: readonly EndedRow[]): { outbox: readonly OutboxEntry[]; rollups: readonly RollupIncrement[] };
  readonly now: number;
  readonly limit: number;
  /** Delete the picked rows too (`forget`). */
  readonly erase?: boolean;
}

const NOT_PENDING = ['verified', 'superseded'];

/**
 * The due rows in three index ranges of `(ended_at, verify_status, attempts, expires_at)`
 * (migration 0012), so a sweep reads the rows that ended, never the live ones (under load those
 * are every request of the last `ttlSeconds`): no longer pending; at the attempt cap and settled
 * or expired; pending under the cap and expired.
 */
async function pickDue(trx: Knex, t: OtpTableNames, sel: Extract<EndSelection, { kind: 'due' }>, limit: number): Promise<Raw[]> {
  const lockable = dialectOf(trx) !== 'sqlite';
  const base = (): Knex.QueryBuilder => {
    const q = trx(t.requests).select([...ENDING_COLUMNS, 'ended_at']).whereNull('ended_at');
    // Several pollers share the work: each skips the rows another holds.
    if (lockable) void q.forUpdate().skipLocked();
    return q;
  };
  const under = Array.from({ length: Math.max(0, sel.maxAttempts) }, (_v, i) => i);
  const parts: Array<(q: Knex.QueryBuilder) => void> = [
    (q) => void q.whereIn('verify_status', NOT_PENDING),
    (q) => void q.where('verify_status', 'pending').andWhere('attempts', '>=', sel.maxAttempts).andWhere((w) => void w.where('updated_at', '<=', sel.settledBy).orWhere('expires_at', '<=', sel.expiredBy)),
  ];
  if (under.length > 0) parts.push((q) => void q.where('verify_status', 'pending').whereIn('attempts', under).andWhere('expires_at', '<=', sel.expiredBy));
  const rows: Raw[] = [];
  for (const part of parts) {
    if (rows.length >= limit) break;
    const q = base();
    part(q);
    rows.push(...((await q.limit(limit - rows.length)) as Raw[]));
  }
  return rows;
}

async function pickRows(trx: Knex, t: OtpTableNames, sel: EndSelection, limit: number): Promise<Raw[]> {
  if (sel.kind === 'due') return pickDue(trx, t, sel, limit);
  const q = trx(t.requests).select([...ENDING_COLUMNS, 'ended_at']);
  if (sel.kind === 'phone') {
    void q.where('phone', sel.phone);
  } else {
    void q.whereNull('ended_at').andWhere('verify_status', 'pending');
    if (sel.requestId !== undefined) void q.andWhere('request_id', sel.requestId);
    if (sel.phone !== undefined) void q.andWhere('phone', sel.phone);
  }
  void q.orderBy('id', 'asc').limit(limit);
  // Forget and cancel wait for rows another transaction holds.
  if (dialectOf(trx) !== 'sqlite') void q.forUpdate();
  return (await q) as Raw[];
}

/**
 * Records the claimed ends: `ended_at` (when the end was recorded) and `end_outcome`, one UPDATE
 * per outcome (a batch has a handful). The rows are this transaction's (locked FOR UPDATE, or
 * SQLite's write lock) and were read with `ended_at` NULL, so all must change: anything else
 * rolls the batch back.
 */
async function markEnded(trx: Knex, t: OtpTableNames, ended: readonly EndedRow[], now: number): Promise<void> {
  const byOutcome = new Map<string, number[]>();
  for (const { row, end } of ended) {
    const outcome = end.reason === undefined ? end.outcome : `${end.outcome}:${end.reason}`;
    const ids = byOutcome.get(outcome);
    if (ids === undefined) byOutcome.set(outcome, [row.id]);
    else ids.push(row.id);
  }
  for (const [outcome, ids] of byOutcome) {
    // The digest goes too: the row must not grow (SPENT_DIGEST, lib/storage/request-row.ts).
    const changed = await trx(t.requests).whereIn('id', ids).whereNull('ended_at').update({ ended_at: now, end_outcome: outcome, code_digest: '' });
    if (changed !== ids.length) throw new Error(`end sweep: ${changed} of ${ids.length} claimed rows changed; the batch is rolled back`);
  }
  // An app's cancel also stops the code: verify refuses it and the poller never sends it.
  const canceled = ended.filter((e) => e.end.reason === 'canceled').map((e) => e.row.id);
  if (canceled.length > 0) await trx(t.requests).whereIn('id', canceled).update({ verify_status: 'superseded', code_cipher: null, updated_at: now });
}

/** Claims the end of the picked rows; answers the rows claimed and how many were picked. */
export async function claimEnds(knex: Knex, t: OtpTableNames, sel: EndSelection, batch: EndBatch): Promise<{ ended: EndedRow[]; picked: number }> {
  const dialect = dialectOf(knex);
  const run = (): Promise<{ ended: EndedRow[]; picked: number }> =>
    knex.transaction(
      async (trx) => {
        // SQLite: take the write lock first (a read lock upgraded later could fail at once with SQLITE_BUSY).
        if (dialect === 'sqlite') await trx.raw('update ?? set ?? = ?? where 1 = 0', [t.requests, 'ended_at', 'ended_at']);
        const raw = await pickRows(trx, t, sel, batch.limit);
        const rows = raw.map(toEndingRow);
        const ended: EndedRow[] = [];
        for (const [i, row] of rows.entries()) {
          // `forget` picks a number's ended rows too: only erased, never ended twice.
          if (raw[i]?.ended_at !== null && raw[i]?.ended_at !== undefined) continue;
          const end = batch.decide(row);
          if (end !== undefined) ended.push({ row, end });
        }
        if (ended.length > 0) {
          await markEnded(trx, t, ended, batch.now);
          const { outbox, rollups } = batch.effects(ended);
          await insertOutbox(trx, t, outbox, batch.now);
          await upsertRollups(trx, t, rollups, batch.now);
        }
        if (batch.erase === true && rows.length > 0) {
          await trx(t.requests)
            .whereIn(
              'id',
              rows.map((r) => r.id),
            )
            .del();
        }
        return { ended, picked: rows.length };
      },
      dialect === 'mysql' ? { isolationLevel: 'read committed' } : undefined,
    );
  return retryConflicts(run);
}
