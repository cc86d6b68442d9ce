/**
 * The Insights JSON contract, as types only: what `otp.insights({ from, to, groupBy })` resolves to
 * and what the dashboard (lib/http/insights-router.ts) and the CLI read, and the shape of a current
 * hold from `otp.holds()`. Every field is readonly so that any implementation of the same shape
 * (mutable or not) fits. Figures only: no number, code, IP or secret ever appears in them.
 */
import { INSIGHT_DIMENSIONS, type InsightDimension, type InsightsGroup } from './insights.js';

/** The dimensions a report can be grouped by: the service's list (lib/core/insights.ts), under the contract's name. */
export const INSIGHTS_DIMENSIONS = INSIGHT_DIMENSIONS;
export type InsightsDimension = InsightDimension;

/** The refusal reasons counted apart: limit (limit-hit), policy (destination), breaker, challenge. */
// One definition of the figures' names (lib/core/insights.ts); this file adds the report's envelope.
export { REFUSAL_REASONS, type RefusalCounts, type RefusalReason, type InsightsGroup } from './insights.js';

export interface InsightsQuery {
  readonly from: Date;
  readonly to: Date;
  readonly groupBy: readonly InsightsDimension[];
}

export interface InsightsReport {
  /** ISO 8601. */
  readonly from: string;
  readonly to: string;
  readonly groupBy: readonly string[];
  readonly currency: string;
  readonly totals: InsightsGroup;
  /**
   * One entry per combination of the groupBy values seen. Key values: country ISO alpha-2 ('ZZ'
   * unknown), channel sms|call|whatsapp, provider name, purpose, step '1' (the first send; '2' the
   * second step of an escalation workflow …), day 'YYYY-MM-DD', hour 'YYYY-MM-DDTHH:00Z'.
   */
  readonly groups: ReadonlyArray<InsightsGroup & { readonly key: Readonly<Record<string, string>> }>;
}

/** A current hold: a number range held by the fraud guard, or a number locked after wrong codes. */
export interface Hold {
  readonly kind: 'range' | 'number';
  /** A range like '+3598812', or a masked number. Never a full number. */
  readonly target: string;
  readonly reason: string;
  /** ISO 8601. */
  readonly since: string;
  readonly until: string;
}
