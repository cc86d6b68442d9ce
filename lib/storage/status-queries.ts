/**
 * Read-only statements for the metrics gauge and the status router, one named function each,
 * `knex` passed in. They select only the columns a status view may show: never the code digest,
 * the sealed code, the provider's copies of the request/response or the client IP.
 */
import type { Knex } from 'knex';
import type { DeliveryStatus } from '../types.js';
import type { OtpTableNames } from './migrations.js';
import { requestIdentity, type RequestRow } from './request-row.js';
import { num, numOrNull, strOrNull, type Raw } from './sql.js';

/** What the status views read of a request row. `phone` is the full number: mask it before it leaves the process. */
export type RequestStatusRow = Pick<
  RequestRow,
  'requestId' | 'phone' | 'channel' | 'purpose' | 'chain' | 'provider' | 'status' | 'sendAttempts' | 'nextAttemptAt' | 'leaseExpiresAt' | 'lastError' | 'verifyStatus' | 'attempts' | 'verifiedAt' | 'expiresAt' | 'createdAt'
>;

/** The only columns the status queries read. */
const STATUS_COLUMNS = [
  'request_id',
  'phone',
  'channel',
  'purpose',
  'chain',
  'provider',
  'status',
  'send_attempts',
  'next_attempt_at',
  'lease_expires_at',
  'last_error',
  'verify_status',
  'attempts',
  'verified_at',
  'expires_at',
  'created_at',
] as const;

/** Rows that wait for (or are in) a delivery attempt of the retry poller. */
const PENDING_STATUSES: readonly DeliveryStatus[] = ['sending', 'queued'];

function toStatusRow(r: Raw): RequestStatusRow {
  return {
    ...requestIdentity(r),
    status: String(r.status) as DeliveryStatus,
    sendAttempts: num(r.send_attempts),
    nextAttemptAt: numOrNull(r.next_attempt_at),
    leaseExpiresAt: numOrNull(r.lease_expires_at),
    lastError: strOrNull(r.last_error),
    verifyStatus: String(r.verify_status) as RequestRow['verifyStatus'],
    attempts: num(r.attempts),
    verifiedAt: numOrNull(r.verified_at),
    expiresAt: num(r.expires_at),
    createdAt: num(r.created_at),
  };
}

/**
 * Rows waiting for a retry (`queued`). Queued rows always have `next_attempt_at` set and finished
 * rows never do, so the NOT NULL condition lets the database use the due index instead of
 * scanning the whole request table on every scrape.
 */
export async function countQueuedRequests(knex: Knex, t: OtpTableNames): Promise<number> {
  const row = (await knex(t.requests).whereNotNull('next_attempt_at').andWhere('status', 'queued').count({ n: '*' }).first()) as Raw | undefined;
  return num(row?.n ?? 0);
}

/** The newest requests, newest first, optionally of one delivery status. */
export async function recentRequests(knex: Knex, t: OtpTableNames, options: { readonly limit: number; readonly status?: DeliveryStatus }): Promise<RequestStatusRow[]> {
  const q = knex(t.requests).select(STATUS_COLUMNS).orderBy('id', 'desc').limit(options.limit);
  if (options.status !== undefined) void q.where('status', options.status);
  const rows = (await q) as Raw[];
  return rows.map(toStatusRow);
}

/** How many request rows are in each delivery status (every status present, zero included). */
export async function countRequestsByStatus(knex: Knex, t: OtpTableNames): Promise<Record<DeliveryStatus, number>> {
  const counts: Record<DeliveryStatus, number> = { sending: 0, queued: 0, sent: 0, failed: 0, unsendable: 0, expired: 0 };
  const rows = await knex(t.requests).select('status').count<Raw[]>({ n: '*' }).groupBy('status');
  for (const row of rows) {
    const status = String(row.status);
    if (status in counts) counts[status as DeliveryStatus] = num(row.n);
  }
  return counts;
}

/** The pending rows (queued, or under a delivery attempt) that come due first. */
export async function nextDueRequests(knex: Knex, t: OtpTableNames, limit: number): Promise<RequestStatusRow[]> {
  const rows = (await knex(t.requests)
    .select(STATUS_COLUMNS)
    .whereNotNull('next_attempt_at')
    .whereIn('status', PENDING_STATUSES)
    .orderBy('next_attempt_at', 'asc')
    .orderBy('id', 'asc')
    .limit(limit)) as Raw[];
  return rows.map(toStatusRow);
}

/**
 * The earliest `next_attempt_at` among rows a retry poller could claim now (pending, due, not
 * under a live lease), or null when none is due. `now - result` is how long the oldest due row
 * has been waiting for a poller.
 */
export async function oldestDueAt(knex: Knex, t: OtpTableNames, now: number): Promise<number | null> {
  const row = (await knex(t.requests)
    .min({ due: 'next_attempt_at' })
    .whereIn('status', PENDING_STATUSES)
    .andWhere('next_attempt_at', '<=', now)
    .andWhere((w) => {
      void w.whereNull('lease_expires_at').orWhere('lease_expires_at', '<=', now);
    })
    .first()) as Raw | undefined;
  return numOrNull(row?.due);
}
