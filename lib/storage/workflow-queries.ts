/**
 * The statements of escalation workflows (issue 26, lib/core/workflow.ts; a new request's workflow
 * is written by its INSERT, lib/storage/request-queries.ts): claim rows whose next step is due
 * (under the same lease columns as the retry claim, so a row is never worked on by two instances), advance a row to its next step (fenced by
 * the lease AND the step it was at, so a step begins once however many pollers race), end a
 * workflow, and bring a step forward when a delivery report says undelivered.
 *
 * A claim moves `step_due_at` to the lease's end: a poller killed before it advanced the row
 * leaves it due again exactly when the lease runs out. An advance puts the row in state `sending`
 * with `next_attempt_at` at the lease's end, like a new send, so a poller killed during the step's
 * delivery is recovered by the ordinary retry claim.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { dialectOf } from './db.js';
import type { OtpTableNames } from './migrations.js';
import { withOutbox, type OutboxEntry } from './outbox-queries.js';
import { toRequestRow } from './request-row.js';
import { assertClaimSupported, type Claim, type ClaimInput } from './retry-queries.js';
import type { Raw } from './sql.js';

/** Delivery states a row may be in when its next step begins (`sending` only with a lease that ran out). */
const STEPPABLE = ['sending', 'queued', 'sent', 'failed', 'unsendable'] as const;

/** No further step for this request (its first step could not be delivered: the send answered with an error). */
export async function cancelWorkflow(knex: Knex, t: OtpTableNames, id: number, now: number): Promise<void> {
  await knex(t.requests).where({ id }).whereNotNull('step_due_at').update({ step_due_at: null, code_cipher: null, updated_at: now });
}

function dueSteps(q: Knex.QueryBuilder, now: number): Knex.QueryBuilder {
  return q
    .where('step_due_at', '<=', now)
    .andWhere('verify_status', 'pending')
    .andWhere('expires_at', '>', now)
    .whereIn('status', STEPPABLE)
    .andWhere((w) => {
      void w.whereNull('lease_expires_at').orWhere('lease_expires_at', '<=', now);
    })
    .orderBy('step_due_at', 'asc')
    .orderBy('id', 'asc');
}

/** Claims up to `limit` rows whose next step is due, under a fresh lease (SKIP LOCKED, or SQLite's write lock). */
export async function claimDueSteps(knex: Knex, t: OtpTableNames, input: ClaimInput): Promise<Claim> {
  const leaseToken = randomUUID();
  const leaseExpiresAt = input.now + input.leaseMs;
  const patch = { lease_token: leaseToken, lease_owner: input.owner.slice(0, 64), lease_expires_at: leaseExpiresAt, step_due_at: leaseExpiresAt, updated_at: input.now };
  if (input.limit < 1) return { leaseToken, leaseExpiresAt, rows: [] };
  const claimed = (raw: Raw[]): Claim => ({ leaseToken, leaseExpiresAt, rows: raw.map((r) => toRequestRow({ ...r, ...patch })).sort((a, b) => a.id - b.id) });
  const dialect = dialectOf(knex);
  if (dialect !== 'mysql') {
    if (dialect === 'postgres') await assertClaimSupported(knex);
    const ids = dueSteps(knex(t.requests).select('id'), input.now).limit(input.limit);
    if (dialect === 'postgres') void ids.forUpdate().skipLocked();
    return claimed((await knex(t.requests).whereIn('id', ids).update(patch, '*')) as Raw[]);
  }
  await assertClaimSupported(knex);
  const raw = await knex.transaction(
    async (trx) => {
      const locked = (await dueSteps(trx(t.requests).select('*'), input.now).limit(input.limit).forUpdate().skipLocked()) as Raw[];
      if (locked.length > 0) await trx(t.requests).whereIn('id', locked.map((r) => Number(r.id))).update(patch);
      return locked;
    },
    { isolationLevel: 'read committed' },
  );
  return claimed(raw);
}

export interface StepAdvance {
  readonly id: number;
  readonly leaseToken: string;
  /** The step the row was at when claimed: the advance happens only from there. */
  readonly fromStep: number;
  readonly toStep: number;
  /** The new step's provider chain (`channel:Provider` entries). */
  readonly chain: readonly string[];
  readonly steps: string;
  /** When the step after it is due (null: it is the last). */
  readonly stepDueAt: number | null;
  readonly leaseExpiresAt: number;
  readonly now: number;
  /** Webhook events (the `otp.step_skipped` of steps skipped on the way), written only with the advance, same transaction. */
  readonly events?: readonly OutboxEntry[];
}

/** A fenced update, with its webhook events in the same transaction when there are any (and only if it wrote). */
function fencedWith(knex: Knex, t: OtpTableNames, events: readonly OutboxEntry[] | undefined, now: number, update: (db: Knex) => Promise<boolean>): Promise<boolean> {
  if (events === undefined || events.length === 0) return update(knex);
  return withOutbox(knex, t, update, (ok) => (ok ? events : []), now);
}

/**
 * Makes the claimed row the new step's send: state `sending` under the held lease, its chain, no
 * delivery attempts yet. Only while the lease is held, the row is still at `fromStep`, pending and
 * not expired: a verification that got in first ends the workflow. True if advanced.
 */
export function advanceStep(knex: Knex, t: OtpTableNames, a: StepAdvance): Promise<boolean> {
  return fencedWith(knex, t, a.events, a.now, async (db) => {
    const n = await db(t.requests)
      .where({ id: a.id, lease_token: a.leaseToken, workflow_step: a.fromStep, verify_status: 'pending' })
      .andWhere('expires_at', '>', a.now)
      .update({
        workflow_step: a.toStep,
        chain: a.chain.join(',').slice(0, 255),
        steps: a.steps,
        step_due_at: a.stepDueAt,
        status: 'sending',
        send_attempts: 0,
        next_attempt_at: a.leaseExpiresAt,
        lease_expires_at: a.leaseExpiresAt,
        last_error: null,
        delivery_report: null,
        delivery_reported_at: null,
        updated_at: a.now,
      });
    return n === 1;
  });
}

/**
 * Ends the workflow of a claimed row (every remaining step skipped, or the request no longer
 * pending): no step pending, the history written, the lease released. The sealed code goes too
 * unless a retry of the current step still needs it (`keepCipher`).
 */
export function endWorkflow(
  knex: Knex,
  t: OtpTableNames,
  e: { id: number; leaseToken: string; steps: string; keepCipher: boolean; status?: string; now: number; events?: readonly OutboxEntry[] },
): Promise<boolean> {
  const patch: Record<string, unknown> = { step_due_at: null, steps: e.steps, lease_token: null, lease_owner: null, lease_expires_at: null, updated_at: e.now };
  if (!e.keepCipher) patch.code_cipher = null;
  // A step begun but not sent (a verification got in first): the request's delivery is the earlier step's.
  if (e.status !== undefined) Object.assign(patch, { status: e.status, next_attempt_at: null });
  return fencedWith(knex, t, e.events, e.now, async (db) => (await db(t.requests).where({ id: e.id, lease_token: e.leaseToken }).update(patch)) === 1);
}

/** Hands claimed, unstarted steps back (poller stopping): unleased and due now. */
export async function releaseSteps(knex: Knex, t: OtpTableNames, ids: readonly number[], leaseToken: string, now: number): Promise<number> {
  if (ids.length === 0) return 0;
  return knex(t.requests).whereIn('id', ids).andWhere({ lease_token: leaseToken }).update({ lease_token: null, lease_owner: null, lease_expires_at: null, step_due_at: now, updated_at: now });
}

/** A delivery report said undelivered: the request's next step (if one is pending) is due now. True if brought forward. */
export async function hastenStep(knex: Knex, t: OtpTableNames, id: number, now: number): Promise<boolean> {
  // Only while the reported step is the one delivered (`sent`): a late report of an earlier step,
  // arriving while the next one is being sent, must not bring the step after it forward.
  const n = await knex(t.requests).where({ id, verify_status: 'pending', status: 'sent' }).andWhere('step_due_at', '>', now).update({ step_due_at: now, updated_at: now });
  return n === 1;
}
