/**
 * `express-otp-kit insights --from 2026-11-01 --to 2026-11-08 --by country,provider [--json]`:
 * `otp.insights()` from a shell, as a table or as the JSON the dashboard reads. `--to` defaults to
 * now, `--from` to seven days before `--to`; dates are ISO 8601 (a bare date is UTC midnight).
 */
import { INSIGHT_DIMENSIONS, type InsightDimension, type InsightsGroup, type InsightsResult } from '../core/insights.js';
import { OtpError } from '../errors.js';
import { createOtp } from '../service/otp.js';
import { cliLogger, EXIT, type CliIo, type ExitCode } from './io.js';

/** Options that take a value (`--from X` or `--from=X`). */
export const VALUE_OPTIONS = ['--from', '--to', '--by'] as const;

/** Splits `--name value` and `--name=value` pairs off the arguments. */
export function takeValueOptions(argv: readonly string[]): { rest: string[]; values: Record<string, string>; missing?: string } {
  const rest: string[] = [];
  const values: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    const name = VALUE_OPTIONS.find((o) => arg === o || arg.startsWith(`${o}=`));
    if (name === undefined) {
      rest.push(arg);
      continue;
    }
    if (arg.startsWith(`${name}=`)) values[name.slice(2)] = arg.slice(name.length + 1);
    else {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) return { rest, values, missing: name };
      values[name.slice(2)] = value;
      i += 1;
    }
  }
  return { rest, values };
}

function dateOption(name: string, text: string | undefined, fallback: Date): Date {
  if (text === undefined) return fallback;
  const date = new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(date.getTime())) throw new OtpError('VALIDATION_FAILED', `--${name} must be an ISO 8601 date such as 2026-11-01 or 2026-11-01T12:00Z (got ${JSON.stringify(text)})`, { field: name });
  return date;
}

function dimensions(text: string | undefined): InsightDimension[] {
  if (text === undefined || text === '') return [];
  return text.split(',').map((d) => {
    const dim = d.trim();
    if (!(INSIGHT_DIMENSIONS as readonly string[]).includes(dim)) throw new OtpError('VALIDATION_FAILED', `--by takes ${INSIGHT_DIMENSIONS.join(', ')} (comma-separated); got ${JSON.stringify(dim)}`, { field: 'by' });
    return dim as InsightDimension;
  });
}

const percent = (rate: number | null): string => (rate === null ? '-' : `${(rate * 100).toFixed(1)}%`);
const seconds = (s: number | null): string => (s === null ? '-' : `${s}s`);
const sum = (counts: Readonly<Record<string, number>>): number => Object.values(counts).reduce((a, b) => a + b, 0);

/** The figures as an aligned text table, one line per group and a total line. */
export function insightsTable(result: InsightsResult): string[] {
  const head = [...result.groupBy, 'requests', 'delivered', 'verified', 'conversion', 'expired', 'max attempts', 'canceled', 'failed', 'median', 'p90', 'refused', 'monitored', `cost ${result.currency}`];
  const line = (key: readonly string[], g: InsightsGroup): string[] => [
    ...key, String(g.requests), String(g.delivered), String(g.verified), percent(g.conversionRate), String(g.expired), String(g.maxAttempts), String(g.canceled), String(g.failed),
    seconds(g.verifySeconds.median), seconds(g.verifySeconds.p90), String(sum(g.refusals)), String(sum(g.monitored)), g.estimatedCost.toFixed(2),
  ];
  const rows = [head, ...result.groups.map((g) => line(result.groupBy.map((d) => g.key[d] ?? ''), g)), line(result.groupBy.map((_d, i) => (i === 0 ? 'total' : '')), result.totals)];
  if (result.groupBy.length === 0) rows[rows.length - 1] = line([], result.totals);
  const widths = head.map((_h, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const text = (r: readonly string[]): string => r.map((cell, i) => (i < result.groupBy.length ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [`${result.from} to ${result.to}`, ...rows.map(text)];
}

export async function insightsCommand(io: CliIo, json: boolean, values: Readonly<Record<string, string>>): Promise<ExitCode> {
  const to = dateOption('to', values.to, new Date());
  const from = dateOption('from', values.from, new Date(to.getTime() - 7 * 86_400_000));
  const groupBy = dimensions(values.by);
  const otp = createOtp({ env: io.env, logger: cliLogger(io) });
  try {
    const result = await otp.insights({ from, to, groupBy });
    if (json) io.out(JSON.stringify(result));
    else for (const l of insightsTable(result)) io.out(l);
    return EXIT.ok;
  } finally {
    await otp.close();
  }
}
