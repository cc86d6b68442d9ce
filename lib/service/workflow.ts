/**
 * Escalation workflows in the service (issue 26): what a send inserts when it starts one, and what
 * the retry poller is handed to run later steps (lib/worker/workflow-steps.ts): each step's
 * provider chain, routed by the usual rules for its channel (possibly another vendor), and its
 * admission (destination policy and cost limits of that channel, lib/limits/send-admission.ts).
 */
import { chainFor } from '../core/routing.js';
import { formatPlan, nextStepDueAt, type StepRecord, type WorkflowPlan } from '../core/workflow.js';
import type { StepAdmission } from '../limits/send-admission.js';
import type { RequestRow } from '../storage/request-row.js';
import type { NewWorkflow } from '../storage/request-queries.js';
import { cancelWorkflow } from '../storage/workflow-queries.js';
import type { Channel } from '../types.js';
import type { WorkflowStepDeps } from '../worker/workflow-steps.js';
import type { OtpDeps } from './deps.js';
import { parsePhone } from './inputs.js';
import { serves } from './provider-serves.js';

type WorkflowColumns = Required<Pick<RequestRow, 'workflow' | 'workflowStep' | 'stepDueAt' | 'steps'>>;

/**
 * The workflow columns of a new request (its first step has begun): `insert` goes into the request
 * row's INSERT itself (lib/storage/request-queries.ts), `columns` into the in-memory row.
 */
export function workflowStart(plan: WorkflowPlan, channel: Channel, now: number): { insert: NewWorkflow; columns: WorkflowColumns } {
  const first: StepRecord = { step: 0, channel, at: now, outcome: 'started' };
  const insert: NewWorkflow = { plan: formatPlan(plan), stepDueAt: nextStepDueAt(plan, 0, now), steps: JSON.stringify([first]) };
  return { insert, columns: { workflow: insert.plan, workflowStep: 0, stepDueAt: insert.stepDueAt, steps: insert.steps } };
}

/** The first step could not be delivered (the send answers with an error): no later step follows. */
export async function endFailedWorkflow(deps: OtpDeps, id: number): Promise<void> {
  await cancelWorkflow(deps.knex, deps.config.tables, id, deps.config.clock());
}

/** What the retry poller needs to run workflow steps, built over the service's parts. */
export function workflowStepDeps(deps: OtpDeps): WorkflowStepDeps {
  return {
    async chainFor(row: RequestRow, channel: Channel): Promise<string[]> {
      const routed = chainFor(await deps.routing.current(), row.phone);
      return routed.filter((name) => serves(deps, name, channel)).map((name) => `${channel}:${name}`);
    },
    admit(row: RequestRow, channel: Channel): Promise<StepAdmission> {
      return deps.admission.admitStep(parsePhone(row.phone, undefined), channel);
    },
  };
}
