/**
 * The benchmark report as markdown: kit against floor with ratios, the targets of issue 6 met or
 * missed (and by how much), statements per request with their SQL, the poller, the CPU profile and
 * EXPLAIN output. `writeReport` replaces only the generated section of docs/benchmarks.md.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoggedStatement } from './common.js';
import type { ExplainSet } from './explain.js';
import type { AppName, PhaseResult } from './load.js';
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
  readonly app: AppName;
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

export interface BenchRound {
  readonly floor: AppResult;
  readonly kit: AppResult;
  /** The peer library, when measured (BENCH_PEER=0 leaves it out). */
  readonly peer?: AppResult;
}

export interface BenchReport {
  readonly date: string;
  readonly minutes: number;
  readonly machine: { readonly cpu: string; readonly cores: number; readonly memoryGb: number; readonly loadAtStart: readonly number[]; readonly loadAtEnd: readonly number[] };
  readonly node: string;
  readonly mariadb: string;
  readonly settings: { readonly duration: number; readonly chunks: number; readonly warmup: number; readonly connections: number; readonly kitLimits: string; readonly peer?: string };
  /** Floor and kit measured in the same round; at least one round. */
  readonly rounds: readonly BenchRound[];
  readonly profile?: ProfileSummary;
  readonly poller?: PollerBenchResult;
  readonly explains: readonly ExplainSet[];
}

export const BEGIN = '<!-- bench:generated:begin (npm run bench -- --write-docs rewrites everything up to the end marker) -->';
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

function phaseRow(round: number, p: PhaseResult, success: number): string {
  return `| ${round} | ${p.kind} | ${p.app} | ${f0(p.rps)} | ${f1(p.p50)} | ${f1(p.p99)} | ${f1(p.mean)} | ${p.ok} / ${p.requests} | ${others(p, success)} | ${f2(p.cpu.server)} | ${f2(p.cpu.db)} | ${f2(p.cpu.loadgen)} | ${p.app === 'kit' ? `${f2(p.knexPerRequest)} / ` : ''}${f2(p.driverPerRequest)} |`;
}

interface Target {
  readonly name: string;
  readonly measured: string;
  readonly met: boolean;
  readonly gap: string;
}

/**
 * A target judged on every round: met only when every round meets it; the gap is the worst
 * round's ("short by 12% (needs 1.14× of what it does now)").
 */
function atLeast(name: string, values: readonly number[], min: number, unit = '×'): Target {
  const worst = Math.min(...values);
  const met = worst >= min;
  const measured = values.map((v) => (unit === '×' ? x(v) : `${f0(v)} ${unit}`)).join(', ');
  return { name, measured, met, gap: met ? `${f0(((worst - min) / min) * 100)}% above${values.length > 1 ? ' in the worst round' : ''}` : `short by ${f0(((min - worst) / min) * 100)}% in the worst round (needs ${f2(min / worst)}× of what it does there)` };
}

function atMost(name: string, values: readonly number[], max: number, unit = '×'): Target {
  const worst = Math.max(...values);
  const met = worst <= max;
  const measured = values.map((v) => (unit === '×' ? x(v) : `${f2(v)}${unit}`)).join(', ');
  return { name, measured, met, gap: met ? `${f0(((max - worst) / max) * 100)}% below the limit${values.length > 1 ? ' in the worst round' : ''}` : `over by ${f0(((worst - max) / max) * 100)}% in the worst round` };
}

/** CPU time of the server process or of mysqld per successful request of a phase, µs. */
export const cpuPerRequest = (p: PhaseResult, who: 'server' | 'db'): number => (p.cpu[who] / Math.max(1, p.rps)) * 1e6;

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
  const each = (value: (round: BenchRound) => number): number[] => r.rounds.map(value);
  const out: Target[] = [
    atLeast('send req/s ≥ 0.5× floor', each(({ kit, floor }) => ratio(kit.send.rps, floor.send.rps)), 0.5),
    atLeast('verify req/s ≥ 0.6× floor', each(({ kit, floor }) => ratio(kit.verify.rps, floor.verify.rps)), 0.6),
    atMost('send p99 ≤ 3× floor', each(({ kit, floor }) => ratio(kit.send.p99, floor.send.p99)), 3),
    atMost('verify p99 ≤ 3× floor', each(({ kit, floor }) => ratio(kit.verify.p99, floor.verify.p99)), 3),
    atMost('statements per send ≤ 6 (success path, all SQL the driver ran)', each(({ kit }) => perRequest(kit.statements.send)), 6, ''),
    atMost('statements per verify ≤ 3 (success path, all SQL the driver ran)', each(({ kit }) => perRequest(kit.statements.verify)), 3, ''),
  ];
  const one = r.poller?.runs.find((run) => run.processes === 1);
  if (one !== undefined) out.push(atLeast('retry table drains ≥ 2,000 rows/s (1 poller process)', [one.rowsPerSecond], 2000, 'rows/s'));
  out.push(atMost('peak RSS ≤ 1.2× floor', each(({ kit, floor }) => ratio(kit.peakRssKb, floor.peakRssKb)), 1.2));
  return out;
}

/** Issue 28's targets: closer to the floor, per request, with every feature on at its defaults. */
export function floorTargets(r: BenchReport): Target[] {
  const each = (value: (round: BenchRound) => number): number[] => r.rounds.map(value);
  const cpu = (kind: 'send' | 'verify', who: 'server' | 'db') => each(({ kit, floor }) => ratio(cpuPerRequest(kit[kind], who), cpuPerRequest(floor[kind], who)));
  return [
    atLeast('send req/s ≥ 0.75× floor', each(({ kit, floor }) => ratio(kit.send.rps, floor.send.rps)), 0.75),
    atLeast('verify req/s ≥ 0.85× floor', each(({ kit, floor }) => ratio(kit.verify.rps, floor.verify.rps)), 0.85),
    atMost('server CPU per send ≤ 1.3× floor', cpu('send', 'server'), 1.3),
    atMost('server CPU per verify ≤ 1.3× floor', cpu('verify', 'server'), 1.3),
    atMost('mysqld CPU per send ≤ 1.5× floor', cpu('send', 'db'), 1.5),
    atMost('peak RSS ≤ 1.2× floor', each(({ kit, floor }) => ratio(kit.peakRssKb, floor.peakRssKb)), 1.2),
  ];
}

/** The SQL of one typical request. `knexApp`: the app runs on Knex (the kit), so SQL that bypassed it is marked. */
function statementList(title: string, samples: readonly StatementSample[], success: number, knexApp = true): string[] {
  const { knex, driver, sample } = typical(samples);
  if (sample === undefined) return [];
  const statuses = [...new Set(samples.map((s) => s.status))].join(', ');
  const counts = [...new Set(samples.map((s) => (knexApp ? `${s.knex}/${s.driver}` : String(s.driver))))].join(', ');
  const checked = `${samples.length} sequential requests, HTTP ${statuses}${samples.every((s) => s.status === success) ? '' : ` — not all ${success}!`}`;
  const counted = knexApp ? `**${title}**: ${knex} statements through Knex, ${driver} at the driver (${checked}; Knex/driver counts seen: ${counts})` : `**${title}**: ${driver} statements at the driver (${checked}; counts seen: ${counts})`;
  const lines = [
    knexApp
      ? `${counted}. One request's statements in the order the driver got them; \`-- not Knex\` marks SQL that bypassed Knex (no \`query\` event):`
      : `${counted}. One request's statements in the order the driver got them:`,
    '',
    '```sql',
  ];
  const viaKnex = new Map<string, LoggedStatement[]>();
  for (const s of sample.sql) viaKnex.set(s.sql, [...(viaKnex.get(s.sql) ?? []), s]);
  for (const sql of sample.driverSql) {
    const match = viaKnex.get(sql)?.shift();
    const text = sql.replace(/;+\s*$/, '');
    if (!knexApp) lines.push(`${text};`);
    else lines.push(match === undefined ? `${text};  -- not Knex` : `${text};  -- ${JSON.stringify(match.bindings).slice(0, 140)}`);
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

/**
 * The report. `detail: false` (docs/benchmarks.md) keeps the figures: every table of results and
 * targets and the poller table, with the statement counts and the profile by package in one line
 * each. `detail: true` (the file each run writes to bench/results/, not tracked) has, instead of
 * those lines, the SQL of one request, the profile's tables and top functions, the poller's
 * statements by count and the EXPLAIN plans.
 */
export function renderReport(r: BenchReport, detail = true): string {
  const first = r.rounds[0];
  if (first === undefined) throw new Error('a report needs at least one round');
  // Statement lists come from the first round (they are the same in every round).
  const { floor, kit } = first;
  const rounds = r.rounds.length;
  const L: string[] = [];
  L.push(`_Generated by \`npm run bench\` on ${r.date} in ${f1(r.minutes)} min._`, '');
  L.push(
    `**Machine:** ${r.machine.cpu}, ${r.machine.cores} cores, ${f1(r.machine.memoryGb)} GB RAM, load average (1/5/15 min) ${r.machine.loadAtStart.map(f2).join(' / ')} at the start and ${r.machine.loadAtEnd.map(f2).join(' / ')} at the end (other work on the machine shows up here). ` +
      `**Node** ${r.node}. **MariaDB** ${r.mariadb} (local, default settings: \`innodb_flush_log_at_trx_commit=1\`). ` +
      'The load generator (autocannon 9, in the orchestrator process), the server process and MariaDB share these cores, so CPU columns add up to at most the core count.',
    '',
    `**Load:** ${rounds} round${rounds === 1 ? '' : 's'}. In a round every app's server runs at once (one process each, started afresh) and the load goes to one app at a time, in ${r.settings.chunks} chunks of ${f1(r.settings.duration / r.settings.chunks)} s per app and phase, in mirrored order (floor, kit${r.settings.peer === undefined ? '' : ', peer'}, then back), the first app swapping every round: a machine whose speed drifts weighs on every app alike. ` +
      `${r.settings.connections} connections, ${r.settings.warmup} s warm-up per app and phase, then ${r.settings.duration} s per app and phase; a phase's figures are over its chunks (p99: the highest chunk's). Every request has its own valid number ` +
      '(+359 87/88/89, spread over many prefixes) and its own `X-Forwarded-For` address (198.18.0.0/15). Verify requests carry live codes: those sent in the send phase, topped up by in-process sends before the verify phase. ' +
      'Both apps: NODE_ENV=production, a pool of 10 connections, delivery by an in-process sink. The kit is the example app (`examples/app.ts`) with `TRUST_PROXY=loopback` and all its defaults, ' +
      `every abuse limit on; only the total-volume caps (and the conversion breaker's minimum sample), which ~100,000 codes a minute to one country must exceed, are raised (not switched off): \`limits: ${r.settings.kitLimits}\`.`,
    '',
    ...(r.settings.peer === undefined
      ? []
      : [
          `**Peer:** ${r.settings.peer}'s phone-number plugin on Express (bench/peer-app.ts), as its documentation sets it up, with its defaults (its in-memory rate limiter on, codes stored in its \`verification\` table with their attempt count); numbers checked with libphonenumber-js/max as in the other apps. Its verify signs the user in: it consumes the code, creates the user on first verification and a session, and answers with the session token. It has no counterpart of the kit's per-number, per-prefix, per-country or budget limits, no retries and no provider routing. The targets of issue 6 compare the kit with the floor only.`,
          '',
        ]),
    '## Kit against the floor',
    '',
    'req/s counts successful responses only (send: 202 from the floor and the kit, 200 from the peer; verify: 200); latency is over all responses. CPU is in cores (1.00 = one core busy). Statements/request under load: kit Knex events / driver calls, floor and peer driver calls.',
    '',
    '| round | phase | app | req/s | p50 ms | p99 ms | mean ms | ok / responses | other outcomes | server CPU | mysqld CPU | loadgen CPU | statements/request |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  const ratioRow = (round: number, kind: string, label: string, b: PhaseResult, a: PhaseResult): string =>
    `| ${round} | ${kind} | **${label}** | **${x(ratio(b.rps, a.rps))}** | ${x(ratio(b.p50, a.p50))} | **${x(ratio(b.p99, a.p99))}** | ${x(ratio(b.mean, a.mean))} | | | ${x(ratio(b.cpu.server, a.cpu.server))} | ${x(ratio(b.cpu.db, a.cpu.db))} | | |`;
  r.rounds.forEach((round, k) => {
    for (const kind of ['send', 'verify'] as const) {
      const a = round.floor[kind];
      const b = round.kit[kind];
      const p = round.peer?.[kind];
      L.push(phaseRow(k + 1, a, kind === 'send' ? 202 : 200), phaseRow(k + 1, b, kind === 'send' ? 202 : 200));
      if (p !== undefined) L.push(phaseRow(k + 1, p, 200));
      L.push(ratioRow(k + 1, kind, 'kit/floor', b, a));
      if (p !== undefined) L.push(ratioRow(k + 1, kind, 'kit/peer', b, p));
    }
  });
  const peerMb = (round: BenchRound, kb: (a: AppResult) => number): string => (round.peer === undefined ? '—' : mb(kb(round.peer)));
  L.push('', '| round | | floor | kit | peer | kit/floor |', '|---|---|---|---|---|---|');
  r.rounds.forEach((round, k) => {
    L.push(
      `| ${k + 1} | peak RSS of the server (VmHWM) | ${mb(round.floor.peakRssKb)} | ${mb(round.kit.peakRssKb)} | ${peerMb(round, (a) => a.peakRssKb)} | **${x(ratio(round.kit.peakRssKb, round.floor.peakRssKb))}** |`,
      `| ${k + 1} | RSS once ready, before load | ${mb(round.floor.readyRssKb)} | ${mb(round.kit.readyRssKb)} | ${peerMb(round, (a) => a.readyRssKb)} | ${x(ratio(round.kit.readyRssKb, round.floor.readyRssKb))} |`,
    );
  });
  L.push('', 'CPU cost per successful request, server process / mysqld (µs; kit/floor in bold):', '');
  L.push('| round | phase | floor server | kit server | **kit/floor** | floor mysqld | kit mysqld | **kit/floor** |' + (first.peer === undefined ? '' : ' peer server | peer mysqld |'), '|---|---|---|---|---|---|---|---|' + (first.peer === undefined ? '' : '---|---|'));
  r.rounds.forEach((round, k) => {
    for (const kind of ['send', 'verify'] as const) {
      const server = (app: AppResult): number => cpuPerRequest(app[kind], 'server');
      const db = (app: AppResult): number => cpuPerRequest(app[kind], 'db');
      const peer = round.peer === undefined ? '' : ` ${f0(server(round.peer))} | ${f0(db(round.peer))} |`;
      L.push(
        `| ${k + 1} | ${kind} | ${f0(server(round.floor))} | ${f0(server(round.kit))} | **${x(ratio(server(round.kit), server(round.floor)))}** | ${f0(db(round.floor))} | ${f0(db(round.kit))} | **${x(ratio(db(round.kit), db(round.floor)))}** |${peer}`,
      );
    }
  });
  L.push('');
  if (first.kit.send.dbWork !== undefined && first.floor.send.dbWork !== undefined) {
    L.push(
      "MariaDB's own count of its work per successful request (`SHOW GLOBAL STATUS`: redo bytes, rows written, buffer pool page reads; bench/db-work.ts). Unlike CPU time these do not move with the machine's other load:",
      '',
      '| round | phase | floor redo B | kit redo B | **kit/floor** | floor rows | kit rows | floor page reads | kit page reads | **kit/floor** |',
      '|---|---|---|---|---|---|---|---|---|---|',
    );
    r.rounds.forEach((round, k) => {
      for (const kind of ['send', 'verify'] as const) {
        const [fw, kw] = [round.floor[kind].dbWork, round.kit[kind].dbWork];
        if (fw === undefined || kw === undefined) continue;
        L.push(`| ${k + 1} | ${kind} | ${f0(fw.redoBytes)} | ${f0(kw.redoBytes)} | **${x(ratio(kw.redoBytes, fw.redoBytes))}** | ${fw.rowWrites.toFixed(1)} | ${kw.rowWrites.toFixed(1)} | ${f0(fw.pageReads)} | ${f0(kw.pageReads)} | **${x(ratio(kw.pageReads, fw.pageReads))}** |`);
      }
    });
    L.push('');
  }

  L.push(
    '## Targets',
    '',
    `A target counts as met only when every round meets it${rounds > 1 ? ' (measured: one figure per round)' : ''}. Issue 28's are stricter: the kit as the example app runs it, insights, workflow and fraud guard at their defaults.`,
    '',
    '| issue | target | measured | result |',
    '|---|---|---|---|',
  );
  // A target both issues set (peak RSS) is one row.
  const loose = targets(r);
  const strict = floorTargets(r);
  const row = (issue: string, t: Target): string => `| ${issue} | ${t.name} | ${t.measured} | ${t.met ? 'met' : '**missed**'}: ${t.gap} |`;
  for (const t of loose) L.push(row(strict.some((u) => u.name === t.name) ? '6, 28' : '6', t));
  for (const t of strict) if (!loose.some((u) => u.name === t.name)) L.push(row('28', t));
  L.push('');

  if (detail) {
    L.push('## Statements per request (success path)', '');
    L.push(
      'Counted per request from the server\'s Knex `query` events and, as a cross-check, from the mysql2 driver\'s `query`/`execute` calls (which also see SQL that bypasses Knex). ' +
        `Floor: ${perRequest(floor.statements.send)} per send, ${perRequest(floor.statements.verify)} per verify (driver).` +
        (first.peer === undefined ? '' : ` Peer: ${perRequest(first.peer.statements.send)} per send, ${perRequest(first.peer.statements.verify)} per verify (driver; its SQL is listed below).`),
      '',
    );
    L.push(...statementList('Kit send', kit.statements.send, 202, true), ...statementList('Kit verify', kit.statements.verify, 200, true));
    if (first.peer !== undefined) L.push(...statementList('Peer send', first.peer.statements.send, 200, false), ...statementList('Peer verify', first.peer.statements.verify, 200, false));
  } else {
    L.push(...summaryLines(r));
  }

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
      if (shapes.length > 0 && detail) {
        L.push('', 'Statements of the single poller process, by count:', '', '```sql');
        for (const s of shapes) L.push(`-- ${s.count}×`, `${s.shape};`);
        L.push('```');
      }
      L.push('');
    }
  }

  if (r.profile !== undefined && detail) {
    L.push('## Where the kit\'s server time goes (CPU profile)', '');
    L.push('A separate, shorter kit run under `node --cpu-prof` (not the measured one); samples cut to the load windows. "Inclusive" counts a package when it is anywhere on the stack.', '');
    L.push(...windowTable('Send', r.profile.send), ...windowTable('Verify', r.profile.verify));
  }

  if (r.explains.length > 0 && detail) {
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

/**
 * What docs/benchmarks.md keeps of the statements, the profile and the plans: one line each; the
 * SQL, the functions and the plans themselves are in the run's details file.
 */
function summaryLines(r: BenchReport): string[] {
  const first = r.rounds[0] as BenchRound;
  const kitCount = (samples: readonly StatementSample[]): string => {
    const { knex, driver } = typical(samples);
    return `${knex} (driver ${driver})`;
  };
  const top = (w: WindowSummary): string => w.selfByPackage.slice(0, 7).map((i) => `${i.name} ${f1(i.percent)}`).join(', ');
  const lines = [
    '## Statements, profile and plans',
    '',
    `- Statements alone (success path): kit send ${kitCount(first.kit.statements.send)}, verify ${kitCount(first.kit.statements.verify)}; floor ${perRequest(first.floor.statements.send)} and ${perRequest(first.floor.statements.verify)}. Under load: the table above.`,
  ];
  if (r.profile !== undefined) lines.push(`- CPU profile of a shorter kit run, self time by package (%): send ${top(r.profile.send)}; verify ${top(r.profile.verify)}.`);
  const plans = r.explains.map((set) => `${set.database} (${set.statements.length} statements)`).join(' and ');
  lines.push(`- Each request's SQL, the poller's statements, the profile's top functions${plans === '' ? '' : ` and the EXPLAIN plans on ${plans}`} are in the run's details file (${DETAILS_NOTE}).`, '');
  return lines;
}

/** Where the raw parts of each run go (git-ignored). */
export const RESULTS_DIR = 'bench/results';
const DETAILS_NOTE = `\`${RESULTS_DIR}/details-<date>.md\`, written by every \`npm run bench\` and not tracked`;

/** Whether this run may rewrite docs/benchmarks.md: `npm run bench -- --write-docs` or BENCH_WRITE_DOCS=1. */
export function writeDocsRequested(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): boolean {
  return argv.includes('--write-docs') || env.BENCH_WRITE_DOCS === '1';
}

/** Writes `text` to bench/results/<name>-<date>.md (creating the folder); returns the path. */
export function writeResult(root: string, name: string, date: string, text: string): string {
  const dir = join(root, RESULTS_DIR);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${date.replace(/[:.]/g, '-')}.md`);
  writeFileSync(file, `${text.trimEnd()}\n`);
  return file;
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
