/**
 * The webhook outbox: an event is a row written in the same transaction as the state change it
 * reports (`withOutbox`), so a crash loses neither or both. The webhook poller claims due rows
 * under a lease exactly as the retry poller claims requests (retry-queries.ts: SKIP LOCKED on
 * MySQL/MariaDB/PostgreSQL, one UPDATE under SQLite's write lock) and writes each result fenced
 * by the lease token.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { dialectOf } from './db.js';
import type { OtpTableNames } from './migrations.js';
import { assertClaimSupported, type ClaimInput } from './retry-queries.js';
import { num, numOrNull, strOrNull, type Raw } from './sql.js';

/** One event to deliver; the body is final (signed as it is on every attempt). */
export interface OutboxEntry {
  readonly webhookId: string;
  readonly eventType: string;
  readonly requestId: string | null;
  /** Keyed digest of the number the event is about (lib/core/outbox-subject.ts), for `forget`; never the number. */
  readonly phoneKey: string | null;
  readonly body: string;
}

export type OutboxStatus = 'pending' | 'delivered' | 'failed';

export interface OutboxRow extends OutboxEntry {
  readonly id: number;
  readonly status: OutboxStatus;
  readonly attempts: number;
  readonly nextAttemptAt: number | null;
  readonly leaseToken: string | null;
  readonly lastError: string | null;
  readonly createdAt: number;
}

function toOutboxRow(r: Raw): OutboxRow {
  return {
    id: num(r.id),
    webhookId: String(r.webhook_id),
    eventType: String(r.event_type),
    requestId: strOrNull(r.request_id),
    phoneKey: strOrNull(r.phone_key),
    body: String(r.body),
    status: String(r.status) as OutboxStatus,
    attempts: num(r.attempts),
    nextAttemptAt: numOrNull(r.next_attempt_at),
    leaseToken: strOrNull(r.lease_token),
    lastError: strOrNull(r.last_error),
    createdAt: num(r.created_at),
  };
}

/** Rows per outbox INSERT: 2,000 bindings, within every driver's limit. */
const OUTBOX_ROWS_PER_STATEMENT = 200;

/** Writes events, due now. */
export async function insertOutbox(knex: Knex, t: OtpTableNames, entries: readonly OutboxEntry[], now: number): Promise<void> {
  // Chunked: an end sweep's claim can write an event per row and endpoint (10 bindings each).
  for (let i = 0; i < entries.length; i += OUTBOX_ROWS_PER_STATEMENT) {
    await knex(t.webhooks).insert(outboxRows(entries.slice(i, i + OUTBOX_ROWS_PER_STATEMENT), now));
  }
}

function outboxRows(entries: readonly OutboxEntry[], now: number): Record<string, string | number | null>[] {
  return entries.map((e) => ({
    webhook_id: e.webhookId,
    event_type: e.eventType,
    request_id: e.requestId,
    phone_key: e.phoneKey,
    body: e.body,
    status: 'pending',
    attempts: 0,
    next_attempt_at: now,
    created_at: now,
    updated_at: now,
  }));
}

/**
 * Runs `work` (a state change) in a transaction and writes the events `entriesFor` makes of its
 * result in the same transaction: both commit, or neither does.
 */
export async function withOutbox<T>(knex: Knex, t: OtpTableNames, work: (trx: Knex) => Promise<T>, entriesFor: (result: T) => readonly OutboxEntry[], now: number): Promise<T> {
  return knex.transaction(async (trx) => {
    const result = await work(trx);
    await insertOutbox(trx, t, entriesFor(result), now);
    return result;
  });
}

function dueWebhooks(q: Knex.QueryBuilder, now: number): Knex.QueryBuilder {
  return q
    .where('status', 'pending')
    .andWhere('next_attempt_at', '<=', now)
    .andWhere((w) => {
      void w.whereNull('lease_expires_at').orWhere('lease_expires_at', '<=', now);
    })
    .orderBy('next_attempt_at', 'asc')
    .orderBy('id', 'asc');
}

/**
 * Claims up to `limit` due events under a fresh lease token. `next_attempt_at` moves to the lease
 * expiry, so an event whose poller dies is due again exactly when its lease runs out.
 */
export async function claimDueWebhooks(knex: Knex, t: OtpTableNames, input: ClaimInput): Promise<{ leaseToken: string; rows: OutboxRow[] }> {
  const leaseToken = randomUUID();
  const leaseExpiresAt = input.now + input.leaseMs;
  const patch = { lease_token: leaseToken, lease_owner: input.owner.slice(0, 64), lease_expires_at: leaseExpiresAt, next_attempt_at: leaseExpiresAt, updated_at: input.now };
  if (input.limit < 1) return { leaseToken, rows: [] };
  const claimed = (raw: Raw[]): { leaseToken: string; rows: OutboxRow[] } => ({ leaseToken, rows: raw.map((r) => toOutboxRow({ ...r, ...patch })).sort((a, b) => a.id - b.id) });
  const dialect = dialectOf(knex);
  if (dialect !== 'mysql') {
    if (dialect === 'postgres') await assertClaimSupported(knex);
    const ids = dueWebhooks(knex(t.webhooks).select('id'), input.now).limit(input.limit);
    if (dialect === 'postgres') void ids.forUpdate().skipLocked();
    return claimed((await knex(t.webhooks).whereIn('id', ids).update(patch, '*')) as Raw[]);
  }
  await assertClaimSupported(knex);
  const raw = await knex.transaction(
    async (trx) => {
      const locked = (await dueWebhooks(trx(t.webhooks).select('*'), input.now).limit(input.limit).forUpdate().skipLocked()) as Raw[];
      if (locked.length > 0) await trx(t.webhooks).whereIn('id', locked.map((r) => num(r.id))).update(patch);
      return locked;
    },
    { isolationLevel: 'read committed' },
  );
  return claimed(raw);
}

export interface WebhookResult {
  readonly status: OutboxStatus;
  readonly attempts: number;
  readonly nextAttemptAt: number | null;
  readonly lastError: string | null;
  readonly now: number;
}

/** Writes one attempt's result and releases the lease, fenced by its token. True if written. */
export async function finishWebhook(knex: Knex, t: OtpTableNames, id: number, leaseToken: string, r: WebhookResult): Promise<boolean> {
  const n = await knex(t.webhooks)
    .where({ id, lease_token: leaseToken })
    .update({
      status: r.status,
      attempts: r.attempts,
      next_attempt_at: r.nextAttemptAt,
      last_error: r.lastError === null ? null : r.lastError.slice(0, 500),
      delivered_at: r.status === 'delivered' ? r.now : null,
      lease_token: null,
      lease_owner: null,
      lease_expires_at: null,
      updated_at: r.now,
    });
  return n === 1;
}

/** Hands claimed, unstarted events back (poller stopping): due now, unleased. */
export async function releaseWebhooks(knex: Knex, t: OtpTableNames, ids: readonly number[], leaseToken: string, now: number): Promise<number> {
  if (ids.length === 0) return 0;
  return knex(t.webhooks).whereIn('id', ids).andWhere({ lease_token: leaseToken }).update({ lease_token: null, lease_owner: null, lease_expires_at: null, next_attempt_at: now, updated_at: now });
}

/** The request a provider's delivery report is about, as the report needs it. */
export interface ReportedRequest {
  readonly id: number;
  readonly requestId: string;
  readonly phone: string;
  readonly channel: string;
  readonly provider: string;
}

/**
 * Records a provider's delivery report on the request it sent (by provider and reference), with
 * its events in the same transaction. The first recorded outcome is final: a later report
 * (repeated or contradicting) changes nothing and writes no event. Answers the request, or
 * undefined when no request has that reference or its outcome was already recorded.
 */
export async function recordDeliveryReport(
  knex: Knex,
  t: OtpTableNames,
  report: { provider: string; ref: string; outcome: 'delivered' | 'undelivered'; now: number },
  entriesFor: (request: ReportedRequest) => readonly OutboxEntry[],
): Promise<ReportedRequest | undefined> {
  return knex.transaction(async (trx) => {
    const raw: Raw | undefined = await trx<Raw>(t.requests).where({ provider: report.provider, provider_ref: report.ref }).orderBy('id', 'desc').first('id', 'request_id', 'phone', 'channel', 'provider');
    if (raw === undefined) return undefined;
    const request: ReportedRequest = { id: num(raw.id), requestId: String(raw.request_id), phone: String(raw.phone), channel: String(raw.channel), provider: String(raw.provider) };
    // Both outcomes are final: only the first report of a message is recorded (issue 23.6). The
    // condition is checked by the UPDATE itself, so of concurrent reports from any number of
    // processes exactly one changes the row and writes its event.
    const n = await trx(t.requests).where({ id: request.id }).whereNull('delivery_report').update({ delivery_report: report.outcome, delivery_reported_at: report.now, updated_at: report.now });
    if (n !== 1) return undefined;
    await insertOutbox(trx, t, entriesFor(request), report.now);
    return request;
  });
}
