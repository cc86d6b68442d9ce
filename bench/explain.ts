/**
 * EXPLAIN of the kit's hot statements on MariaDB and PostgreSQL: the statements are the ones the
 * kit really ran (captured from Knex `query` events with their bindings), explained on a table with
 * realistic contents (many finished rows, some due rows) after ANALYZE.
 */
import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { createOtp, migrateOtpTables, silentLogger } from '../lib/index.js';
import { phoneFor, plainBindings, shapeOf, sleep, type Binding, type LoggedStatement } from './common.js';
import { benchLimits, inProcessProvider } from './kit-app.js';
import { createSeeder, RETRY_PROVIDER } from './seed.js';

export interface LabelledStatement extends LoggedStatement {
  readonly label: string;
}

export interface ExplainedStatement extends LabelledStatement {
  /** Markdown: a table (MariaDB) or the plan lines in a code block (PostgreSQL). */
  readonly plan: string;
}

export interface ExplainSet {
  readonly database: string;
  readonly rowsInTable: number;
  readonly statements: readonly ExplainedStatement[];
  readonly note?: string;
}

const SKIP = /^\s*(insert|begin|commit|rollback|set |savepoint|release|start transaction|select 1|select version\(\)|select database\(\))|information_schema/i;

/** Keeps the first statement of each shape (IN lists folded) that is worth explaining. */
export function explainable(statements: readonly LabelledStatement[]): LabelledStatement[] {
  const seen = new Set<string>();
  return statements.filter((s) => {
    const shape = shapeOf(s.sql);
    if (SKIP.test(s.sql) || seen.has(shape)) return false;
    seen.add(shape);
    return true;
  });
}

const cell = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'string' ? v.replaceAll('|', '\\|') : JSON.stringify(v));

async function explainOne(knex: Knex, dialect: 'mysql' | 'postgres', sql: string, bindings: readonly Binding[]): Promise<string> {
  const text = dialect === 'postgres' ? sql.replace(/\$\d+/g, '?') : sql;
  if (dialect === 'mysql') {
    const [rows = []] = await knex.raw<[Record<string, unknown>[]]>(`EXPLAIN ${text}`, [...bindings]);
    const columns = ['select_type', 'table', 'type', 'possible_keys', 'key', 'key_len', 'ref', 'rows', 'Extra'];
    return [`| ${columns.join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${columns.map((c) => cell(r[c])).join(' | ')} |`)].join('\n');
  }
  const result = await knex.raw<{ rows: { 'QUERY PLAN': string }[] }>(`EXPLAIN ${text}`, [...bindings]);
  return ['```', ...result.rows.map((r) => r['QUERY PLAN']), '```'].join('\n');
}

export async function explainStatements(knex: Knex, dialect: 'mysql' | 'postgres', statements: readonly LabelledStatement[]): Promise<ExplainedStatement[]> {
  await knex.raw(dialect === 'mysql' ? 'ANALYZE TABLE otp_requests' : 'ANALYZE otp_requests');
  const out: ExplainedStatement[] = [];
  for (const s of explainable(statements)) {
    try {
      out.push({ ...s, plan: await explainOne(knex, dialect, s.sql, s.bindings) });
    } catch (error) {
      out.push({ ...s, plan: `EXPLAIN failed: ${error instanceof Error ? error.message : String(error)}` });
    }
  }
  return out;
}

export async function countRows(knex: Knex): Promise<number> {
  const row = (await knex('otp_requests').count({ n: '*' }).first()) as { n: number | string } | undefined;
  return Number(row?.n ?? 0);
}

/**
 * On a fresh PostgreSQL database: 20,000 finished rows and 1,000 due ones; one send and one verify
 * through the kit and a short poller run to capture PostgreSQL's own SQL; then EXPLAIN.
 */
export async function explainOnPostgres(adminUrl: string, secret: string, pollerOptions: Readonly<Record<string, unknown>>): Promise<ExplainSet> {
  const name = `otp_bench_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: adminUrl, pool: { min: 0, max: 1 }, acquireConnectionTimeout: 5_000 });
  try {
    await admin.raw(`CREATE DATABASE ${name}`);
  } catch (error) {
    await admin.destroy();
    return { database: 'PostgreSQL', rowsInTable: 0, statements: [], note: `not reachable at ${adminUrl.replace(/\/\/[^@]*@/, '//')}: ${error instanceof Error ? error.message : String(error)}` };
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const knex = knexFactory({ client: 'pg', connection: u.toString(), pool: { min: 0, max: 10 } });
  const captured: LabelledStatement[] = [];
  let label = '';
  knex.on('query', (q: { sql?: unknown; bindings?: unknown }) => {
    if (label === '' || typeof q.sql !== 'string') return;
    captured.push({ label, sql: q.sql, bindings: plainBindings(q.bindings) });
  });
  let note: string | undefined;
  try {
    const version = (await knex.raw<{ rows: { v: string }[] }>('select version() as v')).rows[0]?.v.split(' ').slice(0, 2).join(' ') ?? 'PostgreSQL';
    await migrateOtpTables(knex);
    const seeder = createSeeder(knex, secret);
    await seeder.seed({ count: 20_000, from: 6_000_000, due: false, purpose: 'bench-finished' });
    await seeder.seed({ count: 1_000, from: 6_100_000, due: true, purpose: 'bench-due' });
    await seeder.close();

    const codes = new Map<string, string>();
    const otp = createOtp({
      db: knex,
      secret,
      customProviders: [inProcessProvider('Bench', (phone, code) => codes.set(phone, code)), inProcessProvider(RETRY_PROVIDER, () => undefined)],
      providers: ['Bench'],
      limits: benchLimits(),
      sms: { retry: true },
      ttlSeconds: 600,
      logger: silentLogger,
    });
    await otp.ready();
    const phone = phoneFor(6_200_000);
    label = 'send';
    await otp.sendSms(phone, { ip: '198.18.0.1' });
    label = 'verify';
    const verified = await otp.verify(phone, codes.get(phone) ?? '000000', { ip: '198.18.0.1' });
    label = '';
    if (!verified.codeValid) note = `the captured verify did not succeed (${verified.reason ?? 'unknown'})`;

    try {
      label = 'poller';
      const poller = otp.startRetryPoller(pollerOptions);
      await sleep(1_500);
      await poller.stop();
    } catch (error) {
      note = `poller statements not captured: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      label = '';
    }
    await otp.close();
    // Due rows again for the plans (the short poller run may have delivered some).
    const reseed = createSeeder(knex, secret);
    await reseed.seed({ count: 1_000, from: 6_300_000, due: true, purpose: 'bench-due-2' });
    await reseed.close();
    const statements = await explainStatements(knex, 'postgres', captured);
    return { database: version, rowsInTable: await countRows(knex), statements, ...(note === undefined ? {} : { note }) };
  } finally {
    await knex.destroy();
    await admin.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.destroy();
  }
}
