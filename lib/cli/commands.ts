/**
 * The CLI's commands over the same service `otpRouter()` builds from the environment. Each opens
 * the service, does one job and closes the connection it opened.
 */
import { OtpError } from '../errors.js';
import { createOtp, type Otp } from '../service/otp.js';
import { ROUTING_SETTING_KEY } from '../service/routing-source.js';
import { otpMigrationStatus } from '../storage/migration-status.js';
import { firstMissingTable } from '../storage/migrations.js';
import { readSetting } from '../storage/settings.js';
import { countRequestsByStatus } from '../storage/status-queries.js';
import { cliLogger, EXIT, redactedUrl, type CliIo, type ExitCode } from './io.js';

export interface CommandInput {
  readonly io: CliIo;
  /** Print one JSON object instead of lines. */
  readonly json: boolean;
  /** Positional arguments after the command (and its subcommand). */
  readonly args: readonly string[];
  /** `--name value` options (insights: from, to, by). */
  readonly values?: Readonly<Record<string, string>>;
}

export async function withOtp(io: CliIo, job: (otp: Otp) => Promise<ExitCode>): Promise<ExitCode> {
  // The same as createOtp() with no options, with the kit's log lines on stderr.
  const otp = createOtp({ env: io.env, logger: cliLogger(io) });
  try {
    return await job(otp);
  } finally {
    await otp.close();
  }
}

function databaseOf(io: CliIo): string {
  const url = io.env.DATABASE_URL;
  return url === undefined || url === '' ? 'sqlite:./otp.sqlite (the default: DATABASE_URL is not set)' : redactedUrl(url);
}

export function print(io: CliIo, json: boolean, value: Record<string, unknown>, lines: readonly string[]): void {
  if (json) io.out(JSON.stringify(value));
  else for (const line of lines) io.out(line);
}

export function migrateCommand({ io, json }: CommandInput): Promise<ExitCode> {
  return withOtp(io, async (otp) => {
    const before = await otpMigrationStatus(otp.knex, otp.config.tables);
    await otp.migrate();
    const after = await otpMigrationStatus(otp.knex, otp.config.tables);
    const ran = before.pending.filter((name) => !after.pending.includes(name));
    print(io, json, { database: databaseOf(io), ran, applied: after.applied.length, pending: after.pending.length }, [
      ran.length === 0 ? `Already up to date (${after.applied.length} migrations applied) on ${databaseOf(io)}.` : `Ran ${ran.length} migration(s) on ${databaseOf(io)}: ${ran.join(', ')}`,
    ]);
    return EXIT.ok;
  });
}

/** Where the routing in force comes from, and what the settings row holds. */
async function routingReport(otp: Otp): Promise<{ routing: string; from: string; row: string | null }> {
  const routing = (await otp.routing()).source;
  const row = (await readSetting(otp.knex, otp.config.tables, ROUTING_SETTING_KEY)) ?? null;
  const forced = otp.config.forcedRouting;
  const from =
    forced !== undefined
      ? `${forced.from} (overrides the "${ROUTING_SETTING_KEY}" settings row)`
      : row === null || row.trim() === ''
        ? `the development default (the "${ROUTING_SETTING_KEY}" settings row is empty)`
        : `the "${ROUTING_SETTING_KEY}" settings row`;
  return { routing, from, row };
}

export function statusCommand({ io, json }: CommandInput): Promise<ExitCode> {
  return withOtp(io, async (otp) => {
    const migrations = await otpMigrationStatus(otp.knex, otp.config.tables);
    if (migrations.pending.length > 0) {
      const problem = `${migrations.pending.length} migration(s) pending: run \`express-otp-kit migrate\``;
      print(io, json, { database: databaseOf(io), ready: false, problem, migrations }, [
        `database:   ${databaseOf(io)}`,
        `migrations: ${migrations.applied.length} applied, ${migrations.pending.length} pending (${migrations.pending.join(', ')})`,
        `ready:      no, ${problem}`,
      ]);
      return EXIT.notReady;
    }
    // ready() is what otpRouter() checks on its first request: tables, routing, providers, SDKs.
    let problem: string | undefined;
    try {
      await otp.ready();
    } catch (error) {
      if (!(error instanceof OtpError)) throw error;
      problem = error.message;
    }
    const routing = problem === undefined ? await routingReport(otp) : undefined;
    const requests = await countRequestsByStatus(otp.knex, otp.config.tables);
    const counts = Object.entries(requests).map(([status, n]) => `${status} ${n}`).join(', ');
    print(io, json, { database: databaseOf(io), ready: problem === undefined, ...(problem === undefined ? {} : { problem }), migrations, ...(routing === undefined ? {} : { routing }), requests }, [
      `database:   ${databaseOf(io)}`,
      `migrations: ${migrations.applied.length} applied, none pending`,
      ...(routing === undefined ? [] : [`routing:    ${routing.routing} (from ${routing.from})`]),
      `requests:   ${counts}`,
      `ready:      ${problem === undefined ? 'yes' : `no, ${problem}`}`,
    ]);
    return problem === undefined ? EXIT.ok : EXIT.notReady;
  });
}

async function requireSettingsTable(otp: Otp): Promise<void> {
  const missing = await firstMissingTable(otp.knex, [otp.config.tables.settings]);
  if (missing !== undefined) throw new OtpError('CONFIG_INVALID', `table "${missing}" does not exist: run \`express-otp-kit migrate\` first`);
}

export function routingGetCommand({ io, json }: CommandInput): Promise<ExitCode> {
  return withOtp(io, async (otp) => {
    await requireSettingsTable(otp);
    const report = await routingReport(otp);
    print(io, json, report, [report.routing, `# from ${report.from}`]);
    return EXIT.ok;
  });
}

export function routingSetCommand({ io, json, args }: CommandInput): Promise<ExitCode> {
  const value = args[0] ?? '';
  return withOtp(io, async (otp) => {
    await requireSettingsTable(otp);
    // Validated as setRouting() validates: names, prefixes, and each named provider's settings and SDK.
    await otp.setRouting(value);
    const stored = (await readSetting(otp.knex, otp.config.tables, ROUTING_SETTING_KEY)) ?? '';
    const forced = otp.config.forcedRouting;
    if (forced !== undefined) {
      io.err(`warning: ${forced.from} is set here and overrides the row; processes without it use the new routing`);
    }
    print(io, json, { routing: stored }, [`routing set: ${stored}`]);
    return EXIT.ok;
  });
}

/** `otp.purge()` once, for a cron job: what the `retention` option no longer keeps, in bounded batches. */
export function purgeCommand({ io, json }: CommandInput): Promise<ExitCode> {
  return withOtp(io, async (otp) => {
    const missing = await firstMissingTable(otp.knex, [otp.config.tables.requests, otp.config.tables.limits, otp.config.tables.failures]);
    if (missing !== undefined) throw new OtpError('CONFIG_INVALID', `table "${missing}" does not exist: run \`express-otp-kit migrate\` first`);
    const purged = await otp.purge();
    print(io, json, { database: databaseOf(io), ...purged }, [
      `Purged ${purged.requests} request row(s), ${purged.failures} failure-budget row(s) and ${purged.limits} counter row(s) on ${databaseOf(io)}${purged.complete ? '.' : ' (stopped early; run again).'}`,
    ]);
    return EXIT.ok;
  });
}
