/**
 * The query of `GET /insights` (lib/http/insights-router.ts), validated with joi:
 *   from, to   ISO 8601 dates (`to` defaults to now)
 *   period     24h | 7d | 30d | 90d, instead of `from`: the range ending at `to`
 *   groupBy    a comma list of country, channel, provider, purpose, step, day, hour (no repeats)
 * Without `from` and `period` the range is the last 7 days. Anything else (an unknown parameter, a
 * parameter given twice, a bad date, `from` not before `to`, a range longer than `maxRangeDays`) is
 * a 400 VALIDATION_FAILED whose `field` names the parameter.
 */
import Joi from 'joi';
import { INSIGHTS_DIMENSIONS, type InsightsDimension, type InsightsQuery } from '../core/insights-report.js';
import { OtpError } from '../errors.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The periods the page offers, in milliseconds. */
export const INSIGHTS_PERIODS = { '24h': DAY_MS, '7d': 7 * DAY_MS, '30d': 30 * DAY_MS, '90d': 90 * DAY_MS } as const;
export type InsightsPeriod = keyof typeof INSIGHTS_PERIODS;

interface RawQuery {
  readonly from?: Date;
  readonly to?: Date;
  readonly period?: InsightsPeriod;
  readonly groupBy?: string;
}

const ISO_DATE_RULE = 'an ISO 8601 date such as 2026-11-25 or 2026-11-25T12:00:00Z';

const querySchema = Joi.object<RawQuery>({
  from: Joi.date().iso().messages({ 'date.format': `"from" must be ${ISO_DATE_RULE}`, 'date.base': `"from" must be ${ISO_DATE_RULE}` }),
  to: Joi.date().iso().messages({ 'date.format': `"to" must be ${ISO_DATE_RULE}`, 'date.base': `"to" must be ${ISO_DATE_RULE}` }),
  period: Joi.string()
    .valid(...Object.keys(INSIGHTS_PERIODS))
    .messages({ 'any.only': `"period" must be one of ${Object.keys(INSIGHTS_PERIODS).join(', ')}` }),
  groupBy: Joi.string()
    .allow('')
    .max(200)
    .pattern(/^[a-z,]*$/)
    .messages({ 'string.pattern.base': `"groupBy" must be a comma list of ${INSIGHTS_DIMENSIONS.join(', ')}` }),
})
  .oxor('from', 'period')
  .messages({ 'object.oxor': '"from" and "period" cannot be given together', 'object.unknown': '{{#label}} is not a parameter of /insights (known: from, to, period, groupBy)' })
  .options({ abortEarly: true, convert: true });

/** The groupBy list: known dimensions, each once. */
function parseGroupBy(raw: string | undefined): InsightsDimension[] {
  if (raw === undefined || raw === '') return [];
  const out: InsightsDimension[] = [];
  for (const part of raw.split(',')) {
    if (!(INSIGHTS_DIMENSIONS as readonly string[]).includes(part)) {
      throw new OtpError('VALIDATION_FAILED', `"groupBy" must be a comma list of ${INSIGHTS_DIMENSIONS.join(', ')} (got "${part.slice(0, 20)}")`, { field: 'groupBy' });
    }
    if (out.includes(part as InsightsDimension)) throw new OtpError('VALIDATION_FAILED', `"groupBy" names "${part}" twice`, { field: 'groupBy' });
    out.push(part as InsightsDimension);
  }
  return out;
}

/** The field a joi error is about: the parameter, or the first one of an oxor pair. */
function fieldOf(error: Joi.ValidationError): string | undefined {
  const detail = error.details[0];
  if (detail === undefined) return undefined;
  if (detail.path.length > 0) return detail.path.join('.');
  const peers = (detail.context as { peers?: unknown } | undefined)?.peers;
  return Array.isArray(peers) && typeof peers[1] === 'string' ? peers[1] : undefined;
}

/**
 * The insights query of an HTTP query object (Express's `req.query`), or a 400 naming the field.
 * `now` is the kit's clock; `maxRangeDays` bounds `to - from`.
 */
export function parseInsightsQuery(query: Readonly<Record<string, unknown>>, now: number, maxRangeDays: number): InsightsQuery & { readonly period?: InsightsPeriod } {
  for (const [name, value] of Object.entries(query)) {
    if (typeof value !== 'string') throw new OtpError('VALIDATION_FAILED', `"${name.slice(0, 40)}" must be given once, as a plain value`, { field: name.slice(0, 40) });
  }
  const result = querySchema.validate(query);
  if (result.error !== undefined) throw new OtpError('VALIDATION_FAILED', result.error.details[0]?.message ?? result.error.message, { field: fieldOf(result.error) });
  const raw = result.value;
  const to = raw.to ?? new Date(now);
  const from = raw.from ?? new Date(to.getTime() - (raw.period === undefined ? INSIGHTS_PERIODS['7d'] : INSIGHTS_PERIODS[raw.period]));
  if (from.getTime() >= to.getTime()) throw new OtpError('VALIDATION_FAILED', '"from" must be before "to"', { field: 'from' });
  if (to.getTime() - from.getTime() > maxRangeDays * DAY_MS) {
    throw new OtpError('VALIDATION_FAILED', `the range from "from" to "to" must be at most ${maxRangeDays} days`, { field: 'from' });
  }
  const groupBy = parseGroupBy(raw.groupBy);
  return { from, to, groupBy, ...(raw.period === undefined ? {} : { period: raw.period }) };
}
