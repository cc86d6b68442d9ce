/**
 * The retry poller's second job (issue 26): rows whose next workflow step is due. Claimed under the
 * same lease columns as retries (lib/storage/workflow-queries.ts), each runs once: walk the plan
 * from the step after the current one, skip a step its channel's destination policy, cost limits
 * or routing refuse (`step-skipped`, and the `otp.step_skipped` webhook), advance the row to the first admitted step (fenced by the
 * lease and the step it was at, so only one instance ever starts a step) and deliver it like any
 * send (lib/delivery/deliver.ts), writing `otp.escalated` with the sent mark. A request verified
 * or superseded meanwhile gets nothing more: the advance needs it pending, and so does the lease
 * check before the provider call.
 */
import { closeCurrent, nextStepDueAt, parsePlan, parseSteps, type StepRecord } from '../core/workflow.js';
import { deliver, type DeliveryDeps } from '../delivery/deliver.js';
import type { Knex } from 'knex';
import type { OtpTableNames } from '../storage/migrations.js';
import type { OutboxEntry } from '../storage/outbox-queries.js';
import type { RequestRow } from '../storage/request-row.js';
import { advanceStep, claimDueSteps, endWorkflow, releaseSteps } from '../storage/workflow-queries.js';
import type { Claim, ClaimInput } from '../storage/retry-queries.js';
import { webhookEntries } from '../webhooks/payload.js';
import type { Channel } from '../types.js';

/** A step's admission as the service answers it (lib/limits/send-admission.ts `admitStep`). */
export type StepVerdict =
  | { readonly refused: { readonly reason: 'policy' } | { readonly reason: 'limit'; readonly limit: string } }
  | { readonly admitted: true; undo(): Promise<void> };

/** What the service hands the poller to run steps (lib/service/workflow.ts). */
export interface WorkflowStepDeps {
  /** The provider chain of a step on `channel` (`channel:Provider` entries); empty: no routed provider serves it. */
  chainFor(row: RequestRow, channel: Channel): Promise<string[]>;
  admit(row: RequestRow, channel: Channel): Promise<StepVerdict>;
}

export interface StepRunnerContext {
  readonly delivery: DeliveryDeps;
  readonly knex: Knex;
  readonly tables: OtpTableNames;
  readonly steps: WorkflowStepDeps;
  /** The lease a chain of this length needs. */
  leaseFor(chainLength: number): number;
}

export function claimSteps(ctx: StepRunnerContext, input: ClaimInput): Promise<Claim> {
  return claimDueSteps(ctx.knex, ctx.tables, input);
}

export function releaseStepClaims(ctx: StepRunnerContext, ids: readonly number[], leaseToken: string): Promise<number> {
  return releaseSteps(ctx.knex, ctx.tables, ids, leaseToken, ctx.delivery.config.clock());
}

/** The `otp.escalated` webhook of a delivered step, written with its sent mark. */
function escalatedHooks(ctx: StepRunnerContext, row: RequestRow, step: number, from: { channel: Channel; provider: string | null }) {
  return (provider: string, channel: Channel, at: number) =>
    webhookEntries(ctx.delivery.config.webhooks, 'otp.escalated', () => ({
      requestId: row.requestId,
      phone: row.phone,
      channel,
      provider,
      extra: { step, fromChannel: from.channel, toChannel: channel, fromProvider: from.provider, toProvider: provider },
    }), at);
}

/** The `otp.step_skipped` webhook of a skipped step: no number (not even masked), no code. */
function skippedHook(ctx: StepRunnerContext, row: RequestRow, step: number, channel: Channel, reason: string, limit: string | undefined, at: number): OutboxEntry[] {
  return webhookEntries(ctx.delivery.config.webhooks, 'otp.step_skipped', () => ({ requestId: row.requestId, channel, extra: { step, reason, limit: limit ?? null } }), at);
}

/**
 * Runs the next step of a claimed row (or ends its workflow). The `otp.step_skipped` webhooks of
 * the steps skipped on the way are written with the statement that records them in the history
 * (the advance to the next step, or the workflow's end), in its transaction.
 */
export async function runStep(ctx: StepRunnerContext, row: RequestRow, leaseToken: string): Promise<void> {
  const { delivery, knex, tables } = ctx;
  const { clock } = delivery.config;
  const delivered = row.status === 'sent' && row.provider !== null;
  const history: StepRecord[] = closeCurrent(parseSteps(row.steps ?? null), { provider: row.provider, providerRef: row.providerRef, codeOwner: row.codeOwner, delivered });
  const plan = parsePlan(row.workflow ?? null);
  const current = row.workflowStep ?? 0;
  const skippedHooks: OutboxEntry[] = [];
  const end = (): Promise<boolean> =>
    endWorkflow(knex, tables, { id: row.id, leaseToken, steps: JSON.stringify(history), keepCipher: row.status === 'queued' || row.status === 'sending', now: clock(), events: skippedHooks });
  if (plan === undefined || row.verifyStatus !== 'pending') {
    await end();
    return;
  }
  const from = { channel: plan[current]?.channel ?? row.channel, provider: delivered ? row.provider : null };
  for (let next = current + 1; next < plan.length; next += 1) {
    const channel = (plan[next] as { channel: Channel }).channel;
    const chain = await ctx.steps.chainFor(row, channel);
    const verdict: StepVerdict = chain.length === 0 ? { refused: { reason: 'policy' } } : await ctx.steps.admit(row, channel);
    if ('refused' in verdict) {
      const reason = chain.length === 0 ? 'unsupported' : verdict.refused.reason;
      const limit = 'limit' in verdict.refused ? verdict.refused.limit : undefined;
      const at = clock();
      history.push({ step: next, channel, at, outcome: 'skipped', reason: limit ?? reason });
      skippedHooks.push(...skippedHook(ctx, row, next, channel, reason, limit, at));
      delivery.events.emit('step-skipped', { requestId: row.requestId, step: next, channel, reason, ...(limit === undefined ? {} : { limit }) });
      continue;
    }
    const now = clock();
    const leaseExpiresAt = now + ctx.leaseFor(chain.length);
    const stepDueAt = nextStepDueAt(plan, next, now);
    const steps = JSON.stringify([...history, { step: next, channel, at: now, outcome: 'started' } satisfies StepRecord]);
    if (!(await advanceStep(knex, tables, { id: row.id, leaseToken, fromStep: current, toStep: next, chain, steps, stepDueAt, leaseExpiresAt, now, events: skippedHooks }))) {
      // Verified, superseded or expired meanwhile (or the lease was lost): nothing is sent.
      await verdict.undo();
      await end();
      return;
    }
    const stepRow: RequestRow = { ...row, chain, status: 'sending', sendAttempts: 0, nextAttemptAt: leaseExpiresAt, leaseExpiresAt, lastError: null, workflowStep: next, stepDueAt, steps };
    const outcome = await deliver(delivery, stepRow, leaseToken, undefined, escalatedHooks(ctx, row, next, from));
    if (outcome.status === 'sent' && outcome.provider !== null) {
      delivery.events.emit('escalated', { requestId: row.requestId, step: next, fromChannel: from.channel, toChannel: outcome.channel, fromProvider: from.provider, toProvider: outcome.provider });
    } else if (outcome.status === 'lost-lease') {
      // A verification got in between the advance and the provider call: the step is not sent.
      history.push({ step: next, channel, at: clock(), outcome: 'skipped', reason: 'verified' });
      const ended = await endWorkflow(knex, tables, { id: row.id, leaseToken, steps: JSON.stringify(history), keepCipher: false, status: delivered ? 'sent' : 'expired', now: clock() });
      if (ended) await verdict.undo();
    }
    return;
  }
  await end();
}
