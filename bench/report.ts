/**
 * The benchmark report as markdown: kit against floor with ratios, the targets of issue 6 met or
 * missed (and by how much), statements per request with their SQL, the poller, the CPU profile and
 * EXPLAIN output. `writeReport` replaces only the generated section of docs/benchmarks.md.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { LoggedStatement } from './common.js';
import type { ExplainSet } from './explain.js';
import type { PhaseResult } from './load.js';
import type { PollerBenchResult } from './poller-bench.js';
import type { ProfileSummary, WindowSummary } from './profile.js';

export interface StatementSample {
  readonly status: number;
  readonly knex: number;
  readonly driver: number;
  readonly sql: readonly LoggedStatement[];
  readonly driverSql: readonly string[];
}

export interface AppResult {
  readonly app: 'floor' | 'kit';
  readonly send: PhaseResult;
  readonly verify: PhaseResult;
  /** Resident set size of the server once ready, before any load, kB. */
  readonly readyRssKb: number;
  /** Peak resident set size of the server process (VmHWM), kB. */
  readonly peakRssKb: number;
  readonly statements: { readonly send: readonly StatementSample[]; readonly verify: readonly StatementSample[] };
  /** Load windows in the server's monotonic clock (µs), for the profile. */
  readonly windows: { readonly send: readonly [number, number]; readonly verify: readonly [number, number] };
}

export interface BenchReport {
  readonly date: string;
  readonly minutes: number;
  readonly machine: { readonly cpu: string; readonly cores: number; readonly memoryGb: number; readonly loadAtStart: readonly number[]; readonly loadAtEnd: readonly number[] };
  readonly node: string;
  readonly mariadb: string;
  readonly settings: { readonly duration: number; readonly warmup: number; readonly connections: number; readonly kitLimits: string };
  readonly floor: AppResult;
  readonly kit: AppResult;
  readonly profile?: ProfileSummary;
  readonly poller?: PollerBenchResult;
  readonly explains: readonly ExplainSet[];
}

export const BEGIN = '<!-- bench:generated:begin (npm run bench rewrites everything up to the end marker) -->';
export const END = '<!-- bench:generated:end -->';

const f0 = (n: number): string => n.toFixed(0);
const f1 = (n: number): string => n.toFixed(1);
const f2 = (n: number): string => n.toFixed(2);
const ratio = (kit: number, floor: number): number => (floor === 0 ? Number.NaN : kit / floor);
const x = (n: number): string => (Number.isFinite(n) ? `${f2(n)}×` : 'n/a');
const mb = (kb: number): string => `${f1(kb / 1024)} MB`;

function others(p: PhaseResult, success: number): string {
  const rest = Object.entries(p.statusCodes).filter(([code]) => Number(code) !== success);
  const parts = rest.map(([code, n]) => `${n}× ${code}`);
  if (p.errors > 0) parts.push(`${p.errors} errors`);
  if (p.timeouts > 0) parts.push(`${p.timeouts} timeouts`);
  if (p.exhausted) parts.push('codes ran out');
  return parts.length === 0 ? '—' : parts.join(', ');
}

function phaseRow(p: PhaseResult, success: number): string {
  return `| ${p.kind} | ${p.app} | ${f0(p.rps)} | ${f1(p.p50)} | ${f1(p.p99)} | ${f1(p.mean)} | ${p.ok} / ${p.requests} | ${others(p, success)} | ${f2(p.cpu.server)} | ${f2(p.cpu.db)} | ${f2(p.cpu.loadgen)} | ${p.app === 'kit' ? `${f2(p.knexPerRequest)} / ` : ''}${f2(p.driverPerRequest)} |`;
}

interface Target {
  readonly name: string;
  readonly measured: string;
  readonly met: boolean;
  readonly gap: string;
}

/** "short by 12% (needs 1.14× of today)" style explanation for a ratio that must be at least `min`. */
function atLeast(name: string, value: number, min: number, unit = '×'): Target {
  const met = value >= min;
  const measured = unit === '×' ? x(value) : `${f0(value)} ${unit}`;
  return { name, measured, met, gap: met ? `${f0(((value - min) / min) * 100)}% above` : `short by ${f0(((min - value) / min) * 100)}% (needs ${f2(min / value)}× of what it does now)` };
}

function atMost(name: string, value: number, max: number, unit = '×'): Target {
  const met = value <= max;
  const measured = unit === '×' ? x(value) : `${f2(value)}${unit}`;
  return { name, measured, met, gap: met ? `${f0(((max - value) / max) * 100)}% below the limit` : `over by ${f0(((value - max) / max) * 100)}%` };
}

/** The most frequent (Knex, driver) count of a series of sequential requests, and one such sample. */
export function typical(samples: readonly StatementSample[]): { knex: number; driver: number; sample: StatementSample | undefined } {
  const tally = new Map<string, number>();
  for (const s of samples) tally.set(`${s.knex}/${s.driver}`, (tally.get(`${s.knex}/${s.driver}`) ?? 0) + 1);
  const best = [...tally.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  const sample = samples.find((s) => `${s.knex}/${s.driver}` === best);
  return { knex: sample?.knex ?? 0, driver: sample?.driver ?? 0, sample };
}

/** All statements of a request: the driver's count (it includes Knex's and any that bypass Knex). */
const perRequest = (samples: readonly StatementSample[]): number => {
  const t = typical(samples);
  return Math.max(t.knex, t.driver);
};

export function targets(r: BenchReport): Target[] {
  const out: Target[] = [
    atLeast('send req/s ≥ 0.5× floor', ratio(r.kit.send.rps, r.floor.send.rps), 0.5),
    atLeast('verify req/s ≥ 0.6× floor', ratio(r.kit.verify.rps, r.floor.verify.rps), 0.6),
    atMost('send p99 ≤ 3× floor', ratio(r.kit.send.p99, r.floor.send.p99), 3),
    atMost('verify p99 ≤ 3× floor', ratio(r.kit.verify.p99, r.floor.verify.p99), 3),
    atMost('statements per send ≤ 6 (success path, all SQL the driver ran)', perRequest(r.kit.statements.send), 6, ''),
    atMost('statements per verify ≤ 3 (success path, all SQL the driver ran)', perRequest(r.kit.statements.verify), 3, ''),
  ];
  const one = r.poller?.runs.find((run) => run.processes === 1);
  if (one !== undefined) out.push(atLeast('retry table drains ≥ 2,000 rows/s (1 poller process)', one.rowsPerSecond, 2000, 'rows/s'));
  out.push(atMost('peak RSS ≤ 1.2× floor', ratio(r.kit.peakRssKb, r.floor.peakRssKb), 1.2));
  return out;
}

function statementList(title: string, samples: readonly StatementSample[], success: number): string[] {
  const { knex, driver, sample } = typical(samples);
  if (sample === undefined) return [];
  const statuses = [...new Set(samples.map((s) => s.status))].join(', ');
  const counts = [...new Set(samples.map((s) => `${s.knex}/${s.driver}`))].join(', ');
  const lines = [
    `**${title}**: ${knex} statements through Knex, ${driver} at the driver (${samples.length} sequential requests, HTTP ${statuses}${samples.every((s) => s.status === success) ? '' : ` — not all ${success}!`}; Knex/driver counts seen: ${counts}). One request's statements in the order the driver got them; \`-- not Knex\` marks SQL that bypassed Knex (no \`query\` event):`,
    '',
    '```sql',
  ];
  const viaKnex = new Map<string, LoggedStatement[]>();
  for (const s of sample.sql) viaKnex.set(s.sql, [...(viaKnex.get(s.sql) ?? []), s]);
  for (const sql of sample.driverSql) {
    const match = viaKnex.get(sql)?.shift();
    const text = sql.replace(/;+\s*$/, '');
    lines.push(match === undefined ? `${text};  -- not Knex` : `${text};  -- ${JSON.stringify(match.bindings).slice(0, 140)}`);
  }
  lines.push('```', '');
  return lines;
}

function windowTable(title: string, w: WindowSummary): string[] {
  const rows = Math.max(w.selfByPackage.length, w.inclusiveByPackage.length);
  const lines = [`**${title}**: main thread busy ${f0(w.busyPercent)}% of ${f1(w.seconds)} s.`, '', '| self time by package | % | inclusive time by package | % |', '|---|---|---|---|'];
  for (let i = 0; i < rows; i += 1) {
    const s = w.selfByPackage[i];
    const c = w.inclusiveByPackage[i];
    lines.push(`| ${s?.name ?? ''} | ${s === undefined ? '' : f1(s.percent)} | ${c?.name ?? ''} | ${c === undefined ? '' : f1(c.percent)} |`);
  }
  lines.push('', 'Top functions by self time:', '', '| function | % |', '|---|---|');
  for (const fn of w.topFunctions) lines.push(`| \`${fn.name.replaceAll('|', '\\|')}\` | ${f1(fn.percent)} |`);
  lines.push('');
  return lines;
}

export function renderReport(r: BenchReport): string {
  const { floor, kit } = r;
  const L: string[] = [];
  L.push(`_Generated by \`npm run bench\` on ${r.date} in ${f1(r.minutes)} min._`, '');
  L.push(
    `**Machine:** ${r.machine.cpu}, ${r.machine.cores} cores, ${f1(r.machine.memoryGb)} GB RAM, load average (1/5/15 min) ${r.machine.loadAtStart.map(f2).join(' / ')} at the start and ${r.machine.loadAtEnd.map(f2).join(' / ')} at the end (other work on the machine shows up here). ` +
      `**Node** ${r.node}. **MariaDB** ${r.mariadb} (local, default settings: \`innodb_flush_log_at_trx_commit=1\`). ` +
      'The load generator (autocannon 9, in the orchestrator process), the server process and MariaDB share these cores, so CPU columns add up to at most the core count.',
    '',
    `**Load:** ${r.settings.connections} connections, ${r.settings.warmup} s warm-up, then ${r.settings.duration} s per phase. Every request has its own valid number ` +
      '(+359 87/88/89, spread over many prefixes) and its own `X-Forwarded-For` address (198.18.0.0/15). Verify requests carry live codes: those sent in the send phase, topped up by in-process sends before the verify phase. ' +
      'Both apps: NODE_ENV=production, a pool of 10 connections, delivery by an in-process sink. The kit is the example app (`examples/app.ts`) with `TRUST_PROXY=loopback` and all its defaults, ' +
      `every abuse limit on; only the total-volume caps (and the conversion breaker's minimum sample), which ~100,000 codes a minute to one country must exceed, are raised (not switched off): \`limits: ${r.settings.kitLimits}\`.`,
    '',
    '## Kit against the floor',
    '',
    'req/s counts successful responses only (202 for send, 200 for verify); latency is over all responses. CPU is in cores (1.00 = one core busy). Statements/request under load: kit Knex events / driver calls, floor driver calls.',
    '',
    '| phase | app | req/s | p50 ms | p99 ms | mean ms | ok / responses | other outcomes | server CPU | mysqld CPU | loadgen CPU | statements/request |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const kind of ['send', 'verify'] as const) {
    const success = kind === 'send' ? 202 : 200;
    const a = floor[kind];
    const b = kit[kind];
    L.push(phaseRow(a, success), phaseRow(b, success));
    L.push(`| ${kind} | **kit/floor** | **${x(ratio(b.rps, a.rps))}** | ${x(ratio(b.p50, a.p50))} | **${x(ratio(b.p99, a.p99))}** | ${x(ratio(b.mean, a.mean))} | | | ${x(ratio(b.cpu.server, a.cpu.server))} | ${x(ratio(b.cpu.db, a.cpu.db))} | | |`);
  }
  L.push('', '| | floor | kit | kit/floor |', '|---|---|---|---|', `| peak RSS of the server (VmHWM) | ${mb(floor.peakRssKb)} | ${mb(kit.peakRssKb)} | **${x(ratio(kit.peakRssKb, floor.peakRssKb))}** |`, `| RSS once ready, before load | ${mb(floor.readyRssKb)} | ${mb(kit.readyRssKb)} | ${x(ratio(kit.readyRssKb, floor.readyRssKb))} |`, '');
  L.push(
    'CPU cost per successful request (server process): ' +
      (['send', 'verify'] as const).map((k) => `${k} floor ${f0((floor[k].cpu.server / Math.max(1, floor[k].rps)) * 1e6)} µs, kit ${f0((kit[k].cpu.server / Math.max(1, kit[k].rps)) * 1e6)} µs`).join('; ') +
      '.',
    '',
  );

  L.push('## Targets (issue 6)', '', '| target | measured | result |', '|---|---|---|');
  for (const t of targets(r)) L.push(`| ${t.name} | ${t.measured} | ${t.met ? 'met' : '**missed**'}: ${t.gap} |`);
  L.push('');

  L.push('## Statements per request (success path)', '');
  L.push(
    'Counted per request from the server\'s Knex `query` events and, as a cross-check, from the mysql2 driver\'s `query`/`execute` calls (which also see SQL that bypasses Knex). ' +
      `Floor: ${perRequest(floor.statements.send)} per send, ${perRequest(floor.statements.verify)} per verify (driver).`,
    '',
  );
  L.push(...statementList('Kit send', kit.statements.send, 202), ...statementList('Kit verify', kit.statements.verify, 200));

  if (r.poller !== undefined) {
    const p = r.poller;
    L.push('## Retry poller', '');
    L.push(`Options passed to \`otp.startRetryPoller()\`: \`${JSON.stringify(p.options)}\` (empty: the kit's defaults). Rows are seeded as the kit writes a queued retry (one real failed send, copied with fresh ids, numbers and sealed codes), due now; the provider accepts in process.`, '');
    if (!p.implemented) {
      L.push(`Not measured: \`otp.startRetryPoller()\` is not implemented yet (${p.error ?? ''}). The benchmark runs as soon as it is.`, '');
    } else {
      L.push('| poller processes | rows | seconds | rows/s | drained | outcome | double deliveries | statements/row (Knex / driver) | poller CPU | mysqld CPU |', '|---|---|---|---|---|---|---|---|---|---|');
      for (const run of p.runs) {
        L.push(
          `| ${run.processes} | ${run.rows} | ${f2(run.seconds)} | **${f0(run.rowsPerSecond)}** | ${run.drained ? 'yes' : 'no'} | ${Object.entries(run.statuses).map(([s, n]) => `${n} ${s}`).join(', ')} | ${run.doubleDeliveries} | ${f2(run.statementsPerRow)} / ${f2(run.driverStatementsPerRow)} | ${f2(run.cpu.pollers)} | ${f2(run.cpu.db)} |`,
        );
      }
      const shapes = p.runs[0]?.shapes ?? [];
      if (shapes.length > 0) {
        L.push('', 'Statements of the single poller process, by count:', '', '```sql');
        for (const s of shapes) L.push(`-- ${s.count}×`, `${s.shape};`);
        L.push('```');
      }
      L.push('');
    }
  }

  if (r.profile !== undefined) {
    L.push('## Where the kit\'s server time goes (CPU profile)', '');
    L.push('A separate, shorter kit run under `node --cpu-prof` (not the measured one); samples cut to the load windows. "Inclusive" counts a package when it is anywhere on the stack.', '');
    L.push(...windowTable('Send', r.profile.send), ...windowTable('Verify', r.profile.verify));
  }

  if (r.explains.length > 0) {
    L.push('## EXPLAIN of the hot statements', '');
    for (const set of r.explains) {
      L.push(`### ${set.database}`, '');
      if (set.note !== undefined) L.push(`_${set.note}_`, '');
      if (set.statements.length === 0) continue;
      L.push(`Table \`otp_requests\` with ${set.rowsInTable} rows (finished ones and 1,000 due), after ANALYZE.`, '');
      for (const s of set.statements) L.push(`**${s.label}**: \`${s.sql.replaceAll('`', '')}\``, '', s.plan, '');
    }
  }
  return L.join('\n');
}

const TEMPLATE_TAIL = `

## Tuning notes

_Written by hand from the generated figures above; \`npm run bench\` leaves this section alone._
`;

/** Replaces the generated section of `file` (creating the file when needed); returns the path. */
export function writeReport(markdown: string, file: string): string {
  const section = `${BEGIN}\n\n${markdown.trimEnd()}\n\n${END}`;
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const begin = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  const next =
    begin >= 0 && end > begin
      ? current.slice(0, begin) + section + current.slice(end + END.length)
      : `# Benchmarks\n\nHow the kit compares with the least work that does the same job (the floor), measured by \`npm run bench\` (see bench/).\n\n${section}${TEMPLATE_TAIL}`;
  writeFileSync(file, next);
  return file;
}
