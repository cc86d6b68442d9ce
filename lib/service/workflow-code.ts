/**
 * Where the code of a workflow request may have come from (issue 26): a kit-owned code is the same
 * across steps; a provider that owns the code (Twilio Verify, Sinch) issued its own for its step.
 * A verify asks the provider of each delivered step, latest first (lib/service/provider-code.ts).
 */
import { codeSources, parseSteps } from '../core/workflow.js';
import type { RequestRow } from '../storage/request-row.js';
import type { Channel } from '../types.js';

/** A code source a verify asks: the provider (null: the kit's digest), its reference and the step's channel. */
export interface VerifySource {
  readonly provider: string | null;
  readonly ref: string | null;
  readonly channel: Channel;
}

/**
 * The sources of a workflow request with at least one provider-owned code, latest step first;
 * undefined when the row has no workflow or only kit-owned codes (the kit's own check applies).
 */
export function workflowSources(row: RequestRow): VerifySource[] | undefined {
  if (row.workflow === undefined || row.workflow === null) return undefined;
  const history = parseSteps(row.steps ?? null);
  const current = { provider: row.provider, providerRef: row.providerRef, codeOwner: row.codeOwner, delivered: row.provider !== null };
  const sources = codeSources(history, current);
  if (!sources.some((s) => s.provider !== null)) return undefined;
  return sources.map((s) => {
    const step = [...history].reverse().find((r) => r.outcome === 'sent' && (r.provider ?? null) === s.provider && (s.provider === null || (r.ref ?? null) === s.ref));
    const channel = s.provider !== null && s.provider === row.provider && s.ref === row.providerRef ? row.channel : (step?.channel ?? row.channel);
    return { ...s, channel };
  });
}
