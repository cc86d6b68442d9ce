/**
 * The request row as the kit reads it: one type, one column list and one mapping for all three
 * drivers (pg returns BIGINT as strings, the drivers differ on NULL and numbers).
 */
import type { Channel, DeliveryStatus } from '../types.js';
import { num, numOrNull, strOrNull, type Raw } from './sql.js';

/**
 * What `code_digest` holds once its code can no longer verify. A consumed or superseded code's
 * digest is replaced by this, half its length; the end sweep then clears it (''). On InnoDB an
 * UPDATE that makes a row longer cannot reuse the row's own space and often reorganizes the whole
 * page (about half a page rewrite per row for the verify and the end sweep, docs/benchmarks.md);
 * these shrink the row by more than the columns each step fills (`verified_at`, `verify_status`,
 * then `ended_at`, `end_outcome`), so neither step grows it. No code material outlives its use.
 */
export const SPENT_DIGEST = '-'.repeat(32);

/**
 * A spent digest as a batch of consumes writes it on MariaDB, which has no UPDATE … RETURNING: the
 * first half of SPENT_DIGEST, then the batch's own 16 hex characters, so the batch can tell the rows
 * it consumed (lib/storage/verify-queries.ts). Same length: the row still shrinks.
 */
export const taggedSpentDigest = (tag: string): string => SPENT_DIGEST.slice(0, 16) + tag;

/** Any spent digest: SPENT_DIGEST or a batch's tagged one. */
export const SPENT_DIGEST_PATTERN = /^-{16}(?:-{16}|[0-9a-f]{16})$/;

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
  /** The send's locale (BCP 47) for providers that write their own text; null: their default. */
  readonly locale: string | null;
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
  /** Escalation workflow (migration 0010): the stored plan, the current step, when the next is due, the step history (JSON). */
  readonly workflow?: string | null;
  readonly workflowStep?: number;
  readonly stepDueAt?: number | null;
  readonly steps?: string | null;
}

/** The columns every view of a request shows: who, what for, and through which providers. */
export function requestIdentity(r: Raw): Pick<RequestRow, 'requestId' | 'phone' | 'channel' | 'purpose' | 'chain' | 'provider'> {
  return {
    requestId: String(r.request_id),
    phone: String(r.phone),
    channel: String(r.channel) as Channel,
    purpose: String(r.purpose),
    chain: String(r.chain).split(',').filter(Boolean),
    provider: strOrNull(r.provider),
  };
}

/** pg returns BIGINT as strings and the drivers differ in naming; one mapping for all three. */
export function toRequestRow(r: Raw): RequestRow {
  return {
    id: num(r.id),
    ...requestIdentity(r),
    providerRef: strOrNull(r.provider_ref),
    codeOwner: r.code_owner === 'provider' ? 'provider' : 'kit',
    codeDigest: String(r.code_digest),
    codeCipher: strOrNull(r.code_cipher),
    messageTemplate: String(r.message_template),
    locale: strOrNull(r.locale),
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
    workflow: strOrNull(r.workflow),
    workflowStep: r.workflow_step === undefined || r.workflow_step === null ? 0 : num(r.workflow_step),
    stepDueAt: numOrNull(r.step_due_at),
    steps: strOrNull(r.steps),
  };
}

/** The columns `toRequestRow` reads (not the stored provider traffic, which verify never needs). */
export const REQUEST_COLUMNS = [
  'id', 'request_id', 'phone', 'channel', 'purpose', 'chain', 'provider', 'provider_ref', 'code_owner', 'code_digest', 'code_cipher', 'message_template',
  'locale', 'status', 'send_attempts', 'next_attempt_at', 'lease_token', 'lease_expires_at', 'last_error', 'verify_status', 'attempts', 'verified_at', 'token_used_at',
  'expires_at', 'created_at',
  'workflow', 'workflow_step', 'step_due_at', 'steps',
] as const;

