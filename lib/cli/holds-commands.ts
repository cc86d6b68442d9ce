/**
 * `express-otp-kit holds list` and `holds release <range|number>`: the fraud guard's holds from a
 * shell, over `otp.holds()` and `otp.release()` (so a release is the same event and webhook).
 */
import { OtpError } from '../errors.js';
import type { Otp } from '../service/otp.js';
import { firstMissingTable } from '../storage/migrations.js';
import type { CommandInput } from './commands.js';
import { print, withOtp } from './commands.js';
import { EXIT, type ExitCode } from './io.js';

async function requireHoldTables(otp: Otp): Promise<void> {
  const { tables } = otp.config;
  const missing = await firstMissingTable(otp.knex, [tables.holds, tables.limits, tables.failures]);
  if (missing !== undefined) throw new OtpError('CONFIG_INVALID', `table "${missing}" does not exist: run \`express-otp-kit migrate\` first`);
}

export function holdsListCommand({ io, json }: CommandInput): Promise<ExitCode> {
  return withOtp(io, async (otp) => {
    await requireHoldTables(otp);
    const holds = await otp.holds();
    const lines = holds.length === 0 ? ['No range is held and no number is locked.'] : holds.map((h) => `${h.kind.padEnd(6)} ${h.target.padEnd(16)} ${h.reason}  since ${h.since}  until ${h.until}`);
    print(io, json, { holds }, lines);
    return EXIT.ok;
  });
}

export function holdsReleaseCommand({ io, json, args }: CommandInput): Promise<ExitCode> {
  const target = args[0] ?? '';
  return withOtp(io, async (otp) => {
    await requireHoldTables(otp);
    const result = await otp.release(target);
    const line = result.released ? `Released the ${result.kind ?? 'hold'} ${result.target} (${result.reason}).` : `Nothing to release: ${result.target} is not held or locked (${result.reason}).`;
    print(io, json, { ...result }, [line]);
    return EXIT.ok;
  });
}
