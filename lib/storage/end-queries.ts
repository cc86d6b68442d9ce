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

function picked(trx: Knex, t: OtpTableNames, sel: EndSelection, limit: number): Knex.QueryBuilder {
  const q = trx(t.requests).select([...ENDING_COLUMNS]);
  if (sel.kind === 'due') {
    void q.whereNull('ended_at').andWhere((w) => {
      void w
        .where('expires_at', '<=', sel.expiredBy)
        .orWhereNot('verify_status', 'pending')
        .orWhere((capped) => {
          void capped.where('attempts', '>=', sel.maxAttempts).andWhere('updated_at', '<=', sel.settledBy);
        });
    });
  } else if (sel.kind === 'phone') {
    void q.where('phone', sel.phone);
  } else {
    void q.whereNull('ended_at').andWhere('verify_status', 'pending');
    if (sel.requestId !== undefined) void q.andWhere('request_id', sel.requestId);
    if (sel.phone !== undefined) void q.andWhere('phone', sel.phone);
  }
  void q.orderBy('id', 'asc').limit(limit);
  const dialect = dialectOf(trx);
  if (dialect !== 'sqlite') {
    void q.forUpdate();
    // The sweep skips rows another poller (or a send) holds; forget and cancel wait for them.
    if (sel.kind === 'due') void q.skipLocked();
  }
  return q;
}

/** Claims the end of the picked rows; answers the rows claimed and how many were picked. */
export async function claimEnds(knex: Knex, t: OtpTableNames, sel: EndSelection, batch: EndBatch): Promise<{ ended: EndedRow[]; picked: number }> {
  const dialect = dialectOf(knex);
  const run = (): Promise<{ ended: EndedRow[]; picked: number }> =>
    knex.transaction(
      async (trx) => {
        // SQLite: take the write lock first (a read lock upgraded later could fail at once with SQLITE_BUSY).
        if (dialect === 'sqlite') await trx.raw('update ?? set ?? = ?? where 1 = 0', [t.requests, 'ended_at', 'ended_at']);
        const rows = ((await picked(trx, t, sel, batch.limit)) as Raw[]).map(toEndingRow);
        const ended: EndedRow[] = [];
        for (const row of rows) {
          const end = batch.decide(row);
          if (end === undefined) continue;
          const outcome = end.reason === undefined ? end.outcome : `${end.outcome}:${end.reason}`;
          const patch: Record<string, unknown> = { ended_at: end.endedAt, end_outcome: outcome };
          // An app's cancel also stops the code: verify refuses it and the poller never sends it.
          if (end.reason === 'canceled') Object.assign(patch, { verify_status: 'superseded', code_cipher: null, updated_at: batch.now });
          const n = await trx(t.requests).where('id', row.id).whereNull('ended_at').update(patch);
          if (n === 1) ended.push({ row, end });
        }
        if (ended.length > 0) {
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
