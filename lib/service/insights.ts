/**
 * `otp.insights({ from, to, groupBy })`: figures from the rollup rows (lib/storage/insights-queries.ts),
 * merged and priced by the pure logic in lib/core/insights.ts. A request is counted once it ended
 * (verified, expired, at the attempt cap or canceled: the poller's end sweep claims it within a
 * second or so), in the hour it was created; refusals in the hour they happened. `from` is rounded
 * down and `to` up to whole UTC hours.
 */
import { INSIGHT_DIMENSIONS, rollupRanges, mergeRollups, type InsightDimension, type InsightsResult } from '../core/insights.js';
import { rankedRates } from '../core/insights-options.js';
import { loggableError } from '../core/safe-error.js';
import { OtpError } from '../errors.js';
import { readRollups } from '../storage/insights-queries.js';
import type { OtpDeps } from './deps.js';
import type { RefusalTally } from './refusal-tally.js';

export interface InsightsQuery {
  readonly from: Date;
  readonly to: Date;
  /** @default [] (totals only) */
  readonly groupBy?: readonly InsightDimension[];
}

/** The longest range one query may cover (the default rollup retention is 400 days). */
const MAX_RANGE_MS = 3_660 * 86_400_000;

function invalid(field: string, message: string): OtpError {
  return new OtpError('VALIDATION_FAILED', `insights: ${message}`, { field });
}

function checkQuery(query: InsightsQuery): { from: number; to: number; dims: InsightDimension[] } {
  if (typeof query !== 'object' || query === null) throw invalid('query', 'pass { from: Date, to: Date, groupBy: [...] }');
  const { from, to } = query;
  if (!(from instanceof Date) || Number.isNaN(from.getTime())) throw invalid('from', '`from` must be a valid Date');
  if (!(to instanceof Date) || Number.isNaN(to.getTime())) throw invalid('to', '`to` must be a valid Date');
  if (to.getTime() <= from.getTime()) throw invalid('to', '`to` must be after `from`');
  if (to.getTime() - from.getTime() > MAX_RANGE_MS) throw invalid('to', 'the range may cover at most 3660 days');
  const groupBy: unknown = query.groupBy ?? [];
  if (!Array.isArray(groupBy)) throw invalid('groupBy', `\`groupBy\` must be an array of ${INSIGHT_DIMENSIONS.join(', ')}`);
  const dims: InsightDimension[] = [];
  for (const d of groupBy as unknown[]) {
    if (typeof d !== 'string' || !(INSIGHT_DIMENSIONS as readonly string[]).includes(d)) throw invalid('groupBy', `unknown dimension ${JSON.stringify(d)}; use ${INSIGHT_DIMENSIONS.join(', ')}`);
    if (!dims.includes(d as InsightDimension)) dims.push(d as InsightDimension);
  }
  return { from: from.getTime(), to: to.getTime(), dims };
}

export async function insights(deps: OtpDeps, tally: RefusalTally, query: InsightsQuery): Promise<InsightsResult> {
  const { from, to, dims } = checkQuery(query);
  // This process's refusals first; a failed write only leaves them for the next flush.
  await tally.flush().catch((error: unknown) => deps.config.logger.warn({ err: loggableError(error) }, 'otp insights: writing counted refusals failed; they are written later'));
  const { prices } = deps.config;
  const rollupQuery = { dims, ranges: rollupRanges(from, to, dims) };
  // One row per group, its cost summed in the same statement (the rates as one CASE, most specific first).
  const rows = await readRollups(deps.knex, deps.config.tables, rollupQuery, { rates: rankedRates(prices), default: prices.default });
  const merged = mergeRollups(rows, dims);
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), groupBy: dims, currency: prices.currency, ...merged };
}
