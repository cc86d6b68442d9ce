/**
 * The end of a request, pure: which outcome a request row ended with, when, what its send attempts
 * were, and what it adds to the insight rollups. The storage claim (lib/storage/end-queries.ts)
 * decides *that* a row ends exactly once; this file decides *how*.
 */
import { parseChainStep } from './channels.js';
import { countryOfE164 } from './phone.js';
import { latencyBucket, zeroCounters, type RollupCounters } from './insights.js';
import type { Channel } from '../types.js';
import { MAX_STEPS, parseSteps } from './workflow.js';

export const END_OUTCOMES = ['verified', 'expired', 'max_attempts_reached', 'canceled'] as const;
export type EndOutcome = (typeof END_OUTCOMES)[number];
/** Why a request was canceled: a newer code superseded it, `forget(phone)` erased it, or the app called `otp.cancel()`. */
export type CancelReason = 'superseded' | 'forgotten' | 'canceled';

/** The columns of a request row its end needs (no code, no token). */
export interface EndingRow {
  readonly id: number;
  readonly requestId: string;
  readonly phone: string;
  readonly channel: string;
  readonly purpose: string;
  readonly chain: readonly string[];
  /** The escalation workflow's step history (JSON, lib/core/workflow.ts), null without a workflow. */
  readonly steps?: string | null;
  readonly provider: string | null;
  readonly codeOwner: 'kit' | 'provider';
  readonly status: string;
  readonly sendAttempts: number;
  readonly verifyStatus: string;
  readonly attempts: number;
  readonly verifiedAt: number | null;
  readonly expiresAt: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface SendAttempt {
  /** 1 for the first delivery attempt, 2 for the first retry … */
  readonly attempt: number;
  readonly channel: string;
  readonly provider: string;
  /** Whether this provider accepted the message. */
  readonly accepted: boolean;
  /** The escalation workflow's step (0 = the first) the attempt belongs to; absent without a workflow. */
  readonly step?: number;
}

export interface RequestEnd {
  readonly outcome: EndOutcome;
  readonly reason?: CancelReason;
  /** Epoch ms the request ended (verification, supersede, last wrong code, or expiry). */
  readonly endedAt: number;
}

/**
 * How a row ends, or undefined while it is still live. `force` is the reason when the kit ends it
 * now (forget, cancel): a verified or already dead row keeps its own outcome.
 * `now` is the sweep's time; `settleMs` is how long after its last counted attempt a row at the
 * attempt cap waits (a provider-checked code may still be consumed while the check is in flight).
 */
export function endOf(row: EndingRow, now: number, maxAttempts: number, settleMs: number, force?: CancelReason): RequestEnd | undefined {
  if (row.verifyStatus === 'verified') return { outcome: 'verified', endedAt: row.verifiedAt ?? row.updatedAt };
  if (row.verifyStatus !== 'pending') return { outcome: 'canceled', reason: 'superseded', endedAt: Math.min(row.updatedAt, now) };
  const capped = row.attempts >= maxAttempts;
  if (force !== undefined) {
    if (row.expiresAt <= now) return { outcome: capped ? 'max_attempts_reached' : 'expired', endedAt: capped ? Math.min(row.updatedAt, row.expiresAt) : row.expiresAt };
    return { outcome: 'canceled', reason: force, endedAt: now };
  }
  if (row.expiresAt <= now) return { outcome: capped ? 'max_attempts_reached' : 'expired', endedAt: capped ? Math.min(row.updatedAt, row.expiresAt) : row.expiresAt };
  if (capped && row.updatedAt <= now - settleMs) return { outcome: 'max_attempts_reached', endedAt: row.updatedAt };
  return undefined;
}

/**
 * The send attempts of a row, from what it stores (no per-attempt write on the request path): each
 * delivery attempt walks the provider chain in order until one accepts. Every attempt before the
 * last tried the whole chain; the last stopped at the provider that accepted (or tried all).
 */
export function sendAttempts(row: Pick<EndingRow, 'chain' | 'channel' | 'provider' | 'sendAttempts' | 'status' | 'steps'>): SendAttempt[] {
  const history = parseSteps(row.steps ?? null);
  // Earlier workflow steps (issue 26): the step history keeps each one's delivery; the row's columns
  // hold the current (`started`) step's.
  const earlier: SendAttempt[] = history
    .filter((s) => (s.outcome === 'sent' || s.outcome === 'undelivered') && typeof s.provider === 'string')
    .map((s) => ({ attempt: 1, channel: s.channel, provider: s.provider as string, accepted: true, step: s.step }));
  const current = history.find((s) => s.outcome === 'started')?.step;
  const attempts = currentAttempts(row);
  return [...earlier, ...(current === undefined ? attempts : attempts.map((a) => ({ ...a, step: current })))];
}

function currentAttempts(row: Pick<EndingRow, 'chain' | 'channel' | 'provider' | 'sendAttempts' | 'status'>): SendAttempt[] {
  const steps = row.chain.map((entry) => parseChainStep(entry, row.channel as Channel));
  const out: SendAttempt[] = [];
  for (let attempt = 1; attempt <= row.sendAttempts; attempt += 1) {
    const last = attempt === row.sendAttempts;
    for (const step of steps) {
      const accepted = last && row.provider !== null && row.status === 'sent' && step.provider === row.provider;
      out.push({ attempt, channel: step.channel, provider: step.provider, accepted });
      if (accepted) break;
    }
  }
  return out;
}

/** Code checks decided on the request: counted attempts, plus the right code of a kit-checked verification. */
export function checksOf(row: Pick<EndingRow, 'attempts' | 'verifyStatus' | 'codeOwner'>): number {
  return row.attempts + (row.verifyStatus === 'verified' && row.codeOwner === 'kit' ? 1 : 0);
}

/** ISO alpha-2 of the destination, 'ZZ' when unknown (non-geographic numbers). */
export function countryOf(phone: string): string {
  return countryOfE164(phone) ?? 'ZZ';
}

/** The rollup key of a request: its creation hour and what it is grouped by (no personal data). */
export interface RollupKey {
  readonly at: number;
  readonly country: string;
  readonly channel: string;
  /** '' when no provider accepted it. */
  readonly provider: string;
  readonly purpose: string;
  /** The escalation workflow step it ended at, 1 = the first send (every request without a workflow). */
  readonly step: number;
}

/**
 * The workflow step (1 = the first send) a request ended at: for a verified request the last step
 * begun by the time of its verification, else the last step sent (skipped steps do not count).
 * 1 without a workflow.
 */
export function stepOf(row: Pick<EndingRow, 'steps' | 'verifiedAt'>, end: RequestEnd): number {
  const by = end.outcome === 'verified' ? (row.verifiedAt ?? end.endedAt) : Number.POSITIVE_INFINITY;
  let index = 0;
  for (const s of parseSteps(row.steps ?? null)) {
    if (s.outcome !== 'skipped' && s.at <= by && Number.isInteger(s.step) && s.step > index) index = s.step;
  }
  return Math.min(index, MAX_STEPS - 1) + 1;
}

/** What one ended request adds to the rollups. Delivered: a provider accepted it; failed: none did and it was not canceled. */
export function rollupOf(row: EndingRow, end: RequestEnd, country: string): { key: RollupKey; counters: RollupCounters } {
  const c = zeroCounters();
  c.requests = 1;
  const delivered = row.provider !== null && row.status === 'sent';
  if (delivered) c.delivered = 1;
  else if (end.outcome !== 'canceled') c.failed = 1;
  if (end.outcome === 'verified') {
    c.verified = 1;
    const bucket = latencyBucket(((row.verifiedAt ?? end.endedAt) - row.createdAt) / 1000);
    c.latency[bucket] = 1;
  } else if (end.outcome === 'expired') c.expired = 1;
  else if (end.outcome === 'max_attempts_reached') c.maxAttempts = 1;
  else c.canceled = 1;
  return { key: { at: row.createdAt, country, channel: row.channel, provider: delivered ? (row.provider ?? '') : '', purpose: row.purpose, step: stepOf(row, end) }, counters: c };
}
