/**
 * `express-otp-kit <command>`: the kit's operations from a shell, reading the same environment as
 * `otpRouter()` with no argument (DATABASE_URL, OTP_SECRET, OTP_SMS_PROVIDER, provider variables).
 * `runCli` returns the exit code instead of exiting, so tests run it in process.
 */
import { safeErrorSummary } from '../core/safe-error.js';
import { OtpError } from '../errors.js';
import { migrateCommand, purgeCommand, routingGetCommand, routingSetCommand, statusCommand, type CommandInput } from './commands.js';
import { holdsListCommand, holdsReleaseCommand } from './holds-commands.js';
import { EXIT, type CliIo, type ExitCode } from './io.js';
import { insightsCommand, takeValueOptions } from './insights.js';

interface Command {
  /** The words that name it: ['migrate'] or ['routing', 'get']. */
  readonly words: readonly string[];
  /** Positional arguments it takes after its words, for usage lines and checks. */
  readonly params: readonly string[];
  readonly summary: string;
  readonly run: (input: CommandInput) => Promise<ExitCode>;
}

const COMMANDS: readonly Command[] = [
  { words: ['migrate'], params: [], summary: "create or update the kit's tables (what otp.migrate() does)", run: migrateCommand },
  { words: ['status'], params: [], summary: 'migrations, routing, requests per delivery status, and whether the service would start', run: statusCommand },
  { words: ['routing', 'get'], params: [], summary: 'print the routing in force and where it comes from', run: routingGetCommand },
  { words: ['routing', 'set'], params: ['<routing>'], summary: 'validate a routing string and store it in the otp_sms_provider settings row', run: routingSetCommand },
  { words: ['purge'], params: [], summary: 'delete what the retention option no longer keeps (what otp.purge() does; for a cron job)', run: purgeCommand },
  { words: ['holds', 'list'], params: [], summary: "number ranges held by the pumping breaker and locked numbers (masked), with reason, since and until (otp.holds())", run: holdsListCommand },
  { words: ['holds', 'release'], params: ['<range|number>'], summary: 'lift the hold of a range (+4915177) or the locks of a number (what otp.release() does)', run: holdsReleaseCommand },
  { words: ['insights'], params: [], summary: 'conversion, outcomes, refusals and cost: --from, --to (ISO dates), --by country,provider,…', run: (i) => insightsCommand(i.io, i.json, i.values ?? {}) },
];

const OPTIONS = ['--json', '--help', '-h'];

function usageLine(c: Command): string {
  return ['express-otp-kit', ...c.words, ...c.params].join(' ');
}

export function helpText(): string {
  const width = Math.max(...COMMANDS.map((c) => [...c.words, ...c.params].join(' ').length));
  return [
    'Usage: express-otp-kit <command> [--json]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${[...c.words, ...c.params].join(' ').padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    '  --json      print one JSON object (migrate, status, routing get|set, purge, holds list|release, insights)',
    '  --from, --to, --by  insights: range (default the last 7 days) and grouping (country, channel, provider, purpose, step, day, hour)',
    '  -h, --help  this text',
    '',
    'The environment is read as otpRouter() reads it: DATABASE_URL (default sqlite:./otp.sqlite),',
    'OTP_SECRET, OTP_SMS_PROVIDER, NODE_ENV and the provider variables (TWILIO_*, SINCH_*, MADA_*).',
    "Quote a routing string for the shell: express-otp-kit routing set 'Twilio;Mada:+35987;Sinch'",
    '',
    'Exit codes: 0 done; 1 failed (configuration, refused value, database); 2 usage error;',
    '3 status: migrations pending or the service would not start.',
  ].join('\n');
}

/** Prints the error without SQL or bound values: the kit's own messages as they are, others summarised. */
function reportFailure(io: CliIo, error: unknown): void {
  if (error instanceof OtpError) {
    io.err(`express-otp-kit: ${error.message}`);
    return;
  }
  const s = safeErrorSummary(error);
  const detail = [s.code, s.reason].filter((part) => part !== undefined && part !== '').join(': ');
  io.err(`express-otp-kit: ${s.name}${detail === '' ? '' : ` (${detail})`}`);
}

function usageError(io: CliIo, message: string): ExitCode {
  io.err(`express-otp-kit: ${message}`);
  io.err('Run `express-otp-kit --help` for the commands.');
  return EXIT.usage;
}

export async function runCli(input: readonly string[], io: CliIo): Promise<ExitCode> {
  const { rest: argv, values, missing } = takeValueOptions(input);
  if (missing !== undefined) return usageError(io, `${missing} needs a value`);
  const flags = argv.filter((a) => a.startsWith('-') && !/^-\d/.test(a));
  const words = argv.filter((a) => !flags.includes(a));
  const unknown = flags.find((f) => !OPTIONS.includes(f));
  if (unknown !== undefined) return usageError(io, `unknown option ${unknown}`);
  if (flags.includes('--help') || flags.includes('-h') || words[0] === 'help') {
    io.out(helpText());
    return EXIT.ok;
  }
  if (words.length === 0) {
    io.err(helpText());
    return EXIT.usage;
  }
  const command = COMMANDS.find((c) => c.words.every((w, i) => words[i] === w));
  if (command === undefined) {
    const group = COMMANDS.filter((c) => c.words[0] === words[0]);
    if (group.length > 0) return usageError(io, `${words[0] ?? ''} needs one of: ${group.map((c) => c.words.slice(1).join(' ')).join(', ')}`);
    return usageError(io, `unknown command "${words.join(' ')}"`);
  }
  const args = words.slice(command.words.length);
  if (args.length !== command.params.length) {
    return usageError(io, `${command.params.length === 0 ? 'no arguments expected' : `expected ${command.params.join(' ')}`}: ${usageLine(command)}`);
  }
  try {
    return await command.run({ io, json: flags.includes('--json'), args, values });
  } catch (error) {
    reportFailure(io, error);
    return EXIT.failed;
  }
}
