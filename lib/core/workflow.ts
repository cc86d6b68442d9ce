/**
 * Escalation workflows (issue 26): an ordered list of steps `{ channel, timeoutSeconds }`. A send
 * starts the first step; when a step's time passes with no verification (or a delivery report says
 * undelivered) the retry poller starts the next one, routed like any send on that channel. Pure:
 * the option's type, its joi schema, the stored plan string (`sms:60,call`), the step history kept
 * on the request row (`steps` column) and the code sources a verify asks, latest step first.
 */
import Joi from 'joi';
import { OtpError } from '../errors.js';
import type { Channel } from '../types.js';
import { CHANNELS, isChannel } from './channels.js';

/** Vonage Verify v2's `channel_timeout` range and default. */
export const STEP_TIMEOUT_MIN = 15;
export const STEP_TIMEOUT_MAX = 900;
export const STEP_TIMEOUT_DEFAULT = 180;
export const MAX_STEPS = 6;

export interface WorkflowStep {
  readonly channel: Channel;
  /** Seconds to wait for a verification before the next step (15-900). @default 180; the last step has none */
  readonly timeoutSeconds?: number;
}

/** A workflow as given: steps, or the short form `sms:60,whatsapp:120,call`. */
export type WorkflowInput = readonly WorkflowStep[] | string;

export interface WorkflowOptions {
  /**
   * Escalation across channels and vendors: e.g. `[{ channel: 'sms', timeoutSeconds: 60 }, { channel: 'call' }]`
   * (or `'sms:60,call'`). A send on the first step's channel starts it; each later step is sent when
   * the previous one's time passes unverified, or at once when a delivery report says undelivered.
   * Env `OTP_WORKFLOW`. @default none
   */
  readonly workflow?: WorkflowInput | false;
  /** A workflow per purpose (`false`: none for that purpose), wins over `workflow`. @default none */
  readonly workflowByPurpose?: Readonly<Record<string, WorkflowInput | false>>;
}

/** One step of a resolved plan; `timeoutSeconds` is null on the last step. */
export interface PlanStep {
  readonly channel: Channel;
  readonly timeoutSeconds: number | null;
}

export type WorkflowPlan = readonly PlanStep[];

export interface ResolvedWorkflowOptions {
  readonly workflow: WorkflowPlan | undefined;
  readonly workflowByPurpose: Readonly<Record<string, WorkflowPlan | null>>;
}

const stepSchema = Joi.object({
  channel: Joi.string().valid(...CHANNELS).required(),
  timeoutSeconds: Joi.number().integer().min(STEP_TIMEOUT_MIN).max(STEP_TIMEOUT_MAX),
});
const shortForm = Joi.string().pattern(/^\s*[a-z]+(:[0-9]+)?(\s*,\s*[a-z]+(:[0-9]+)?)*\s*$/, 'channel[:seconds],…');
const workflowSchema = Joi.alternatives(Joi.array().items(stepSchema).min(1).max(MAX_STEPS), shortForm);

export const workflowOptionKeys = {
  workflow: Joi.alternatives(Joi.valid(false), workflowSchema),
  workflowByPurpose: Joi.object().pattern(Joi.string().min(1).max(64), Joi.alternatives(Joi.valid(false), workflowSchema)),
};

function invalid(field: string, why: string, config: boolean): OtpError {
  return config ? new OtpError('CONFIG_INVALID', `createOtp: option \`${field}\` ${why}`) : new OtpError('VALIDATION_FAILED', `\`${field}\` ${why}.`, { field });
}

/** `sms:60,call` → steps. Throws with `field` named on a malformed entry. */
export function parseWorkflowString(text: string, field: string, config = true): WorkflowStep[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const [channel, seconds] = entry.split(':');
      if (!isChannel(channel)) throw invalid(`${field}[${i}].channel`, `must be one of ${CHANNELS.join(', ')} (got ${JSON.stringify(channel)})`, config);
      return seconds === undefined ? { channel } : { channel, timeoutSeconds: Number(seconds) };
    });
}

/**
 * Validates a workflow (either form) into a plan: 1-6 steps, each timeout a whole 15-900 seconds
 * (default 180), none on the last step. `field` names the option in errors (CONFIG_INVALID for
 * options, VALIDATION_FAILED for a per-send override).
 */
export function toPlan(input: WorkflowInput, field: string, config = true): WorkflowPlan {
  const steps = typeof input === 'string' ? parseWorkflowString(input, field, config) : input;
  if (!Array.isArray(steps) || steps.length < 1 || steps.length > MAX_STEPS) throw invalid(field, `must have 1 to ${MAX_STEPS} steps`, config);
  return steps.map((step: WorkflowStep, i) => {
    if (typeof step !== 'object' || step === null || !isChannel(step.channel)) throw invalid(`${field}[${i}].channel`, `must be one of ${CHANNELS.join(', ')}`, config);
    const last = i === steps.length - 1;
    const t = step.timeoutSeconds;
    if (last && t !== undefined) throw invalid(`${field}[${i}].timeoutSeconds`, 'the last step has no timeout (nothing follows it)', config);
    if (t !== undefined && (!Number.isInteger(t) || t < STEP_TIMEOUT_MIN || t > STEP_TIMEOUT_MAX)) {
      throw invalid(`${field}[${i}].timeoutSeconds`, `must be a whole number of seconds from ${STEP_TIMEOUT_MIN} to ${STEP_TIMEOUT_MAX} (got ${JSON.stringify(t)})`, config);
    }
    return { channel: step.channel, timeoutSeconds: last ? null : (t ?? STEP_TIMEOUT_DEFAULT) };
  });
}

/**
 * Every step must be able to begin while the code lives: the timeouts before the last step must
 * add up to less than `ttlSeconds`, else the later steps could never be sent.
 */
function assertFits(plan: WorkflowPlan, ttlSeconds: number, field: string, config: boolean): WorkflowPlan {
  const before = plan.reduce((sum, s) => sum + (s.timeoutSeconds ?? 0), 0);
  if (before >= ttlSeconds) throw invalid(field, `waits ${before} s before its last step, which is not less than the code's lifetime (ttlSeconds ${ttlSeconds}): shorten the steps or lengthen ttlSeconds`, config);
  return plan;
}

export function resolveWorkflowOptions(options: WorkflowOptions & { readonly ttlSeconds?: number }, env: Readonly<Record<string, string | undefined>>): ResolvedWorkflowOptions {
  const ttl = options.ttlSeconds ?? 300;
  const fromEnv = env.OTP_WORKFLOW !== undefined && env.OTP_WORKFLOW.trim() !== '' ? env.OTP_WORKFLOW : undefined;
  const given = options.workflow ?? fromEnv;
  const byPurpose: Record<string, WorkflowPlan | null> = {};
  for (const [purpose, value] of Object.entries(options.workflowByPurpose ?? {})) {
    byPurpose[purpose] = value === false ? null : assertFits(toPlan(value, `workflowByPurpose.${purpose}`), ttl, `workflowByPurpose.${purpose}`, true);
  }
  const field = options.workflow === undefined && fromEnv !== undefined ? 'OTP_WORKFLOW' : 'workflow';
  return { workflow: given === undefined || given === false ? undefined : assertFits(toPlan(given, field), ttl, field, true), workflowByPurpose: byPurpose };
}

/**
 * The plan of one send: the per-send override (`false`: none), else the purpose's, else the
 * default. A configured plan applies only to sends on its first step's channel (a user who asked
 * for a call gets a call); an override must start on the send's channel.
 */
export function planFor(config: ResolvedWorkflowOptions & { readonly ttlSeconds: number }, purpose: string, channel: Channel, override: WorkflowInput | false | undefined): WorkflowPlan | undefined {
  if (override === false) return undefined;
  if (override !== undefined) {
    const plan = assertFits(toPlan(override, 'workflow', false), config.ttlSeconds, 'workflow', false);
    if (plan[0]?.channel !== channel) throw new OtpError('VALIDATION_FAILED', `workflow: the first step must be the send's channel (${channel})`, { field: 'workflow' });
    return plan.length > 1 ? plan : undefined;
  }
  const configured = Object.hasOwn(config.workflowByPurpose, purpose) ? config.workflowByPurpose[purpose] : config.workflow;
  if (configured === null || configured === undefined || configured[0]?.channel !== channel || configured.length < 2) return undefined;
  return configured;
}

/** The stored form: `sms:60,call:120,call`. */
export function formatPlan(plan: WorkflowPlan): string {
  return plan.map((s) => (s.timeoutSeconds === null ? s.channel : `${s.channel}:${s.timeoutSeconds}`)).join(',');
}

/** The stored form back (rows are written by `formatPlan`; anything else reads as no plan). */
export function parsePlan(text: string | null): WorkflowPlan | undefined {
  if (text === null || text === '') return undefined;
  try {
    return toPlan(text, 'workflow');
  } catch {
    return undefined;
  }
}

/** When the step after `index` is due, for a step started at `startedAt`; null when `index` is the last. */
export function nextStepDueAt(plan: WorkflowPlan, index: number, startedAt: number): number | null {
  const step = plan[index];
  return step === undefined || step.timeoutSeconds === null || index >= plan.length - 1 ? null : startedAt + step.timeoutSeconds * 1000;
}

/**
 * One entry of the row's step history (`steps` column, JSON array). `outcome`: `started` (the
 * current step, its delivery in the row's provider columns), `sent` (delivered, then followed by
 * another step), `undelivered` (reported undelivered or not delivered when the next step began),
 * `skipped` (a limit, the destination policy or routing refused it; `reason` says which).
 */
export interface StepRecord {
  readonly step: number;
  readonly channel: Channel;
  readonly at: number;
  readonly outcome: 'started' | 'sent' | 'undelivered' | 'skipped';
  readonly provider?: string | null;
  readonly ref?: string | null;
  readonly codeOwner?: 'kit' | 'provider';
  readonly reason?: string;
}

export function parseSteps(text: string | null): StepRecord[] {
  if (text === null || text === '') return [];
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? (parsed as StepRecord[]).filter((r) => typeof r === 'object' && r !== null && isChannel(r.channel)) : [];
  } catch {
    return [];
  }
}

/** The delivery of the current step as the row's columns hold it. */
export interface CurrentDelivery {
  readonly provider: string | null;
  readonly providerRef: string | null;
  readonly codeOwner: 'kit' | 'provider';
  readonly delivered: boolean;
}

/** The history with its `started` entry closed from the row's columns (before the next step overwrites them). */
export function closeCurrent(history: readonly StepRecord[], current: CurrentDelivery): StepRecord[] {
  return history.map((r) =>
    r.outcome !== 'started'
      ? r
      : current.delivered
        ? { ...r, outcome: 'sent', provider: current.provider, ref: current.providerRef, codeOwner: current.codeOwner }
        : { ...r, outcome: 'undelivered', provider: current.provider },
  );
}

/** A code a verify may check: the provider that owns it (null: the kit's digest) and its reference. */
export interface CodeSource {
  readonly provider: string | null;
  readonly ref: string | null;
}

/**
 * Where the typed code may have come from, latest step first: the current delivery, then the
 * earlier delivered steps. A kit-owned code is one source however many steps carried it.
 */
export function codeSources(history: readonly StepRecord[], current: CurrentDelivery): CodeSource[] {
  const sources: CodeSource[] = [];
  const add = (provider: string | null, ref: string | null, owner: 'kit' | 'provider' | undefined): void => {
    const s = owner === 'provider' && provider !== null ? { provider, ref } : { provider: null, ref: null };
    if (!sources.some((x) => x.provider === s.provider && x.ref === s.ref)) sources.push(s);
  };
  if (current.delivered) add(current.provider, current.providerRef, current.codeOwner);
  for (const r of [...history].reverse()) if (r.outcome === 'sent') add(r.provider ?? null, r.ref ?? null, r.codeOwner);
  return sources;
}
