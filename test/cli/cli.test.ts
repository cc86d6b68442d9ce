/**
 * The `express-otp-kit` CLI in process (runCli with an injected environment and streams) on a
 * fresh database per kind, plus one run of the real executable to check the exit code reaches the
 * shell. The commands read DATABASE_URL, OTP_SECRET, OTP_SMS_PROVIDER… as otpRouter() does.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EXIT, type CliIo } from '../../lib/cli/io.js';
import { helpText, runCli } from '../../lib/cli/run.js';
import { otpMigrationSource } from '../../lib/storage/migrations.js';
import { forEachDatabase } from '../helpers/db.js';

const SECRET = 'cli-test-secret-0123456789abcdefghijkl';
const MADA = { MADA_URL: 'http://127.0.0.1:9/mada', MADA_USERNAME: 'user', MADA_PASSWORD: 'pass', MADA_SOURCE_NAME: 'Shop' };
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Ran {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
}

async function cli(argv: readonly string[], env: Record<string, string>): Promise<Ran> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { env: { NODE_ENV: 'test', OTP_SECRET: SECRET, ...env }, out: (l) => out.push(l), err: (l) => err.push(l) };
  return { code: await runCli(argv, io), out, err };
}

async function migrationNames(): Promise<string[]> {
  const source = otpMigrationSource();
  return (await source.getMigrations([])).map((m) => source.getMigrationName(m));
}

it('usage: help, unknown commands and options, missing arguments (no database touched)', async () => {
  const env = { DATABASE_URL: 'sqlite::memory:' };
  const none = await cli([], env);
  assert.equal(none.code, EXIT.usage);
  assert.equal(none.err.join('\n'), helpText());
  const help = await cli(['--help'], env);
  assert.equal(help.code, EXIT.ok);
  for (const word of ['migrate', 'status', 'routing get', 'routing set <routing>', 'Exit codes', 'DATABASE_URL', 'OTP_SMS_PROVIDER']) assert.ok(help.out.join('\n').includes(word), word);
  assert.equal((await cli(['routing', 'set', '--help'], env)).code, EXIT.ok);
  const unknown = await cli(['migrat'], env);
  assert.deepEqual([unknown.code, unknown.err[0]], [EXIT.usage, 'express-otp-kit: unknown command "migrat"']);
  assert.ok(help.out.join('\n').includes('purge'), 'purge is listed');
  assert.equal((await cli(['purge', 'now'], env)).code, EXIT.usage, 'purge takes no argument');
  const flag = await cli(['status', '--verbose'], env);
  assert.deepEqual([flag.code, flag.err[0]], [EXIT.usage, 'express-otp-kit: unknown option --verbose']);
  const group = await cli(['routing'], env);
  assert.deepEqual([group.code, group.err[0]], [EXIT.usage, 'express-otp-kit: routing needs one of: get, set']);
  const missing = await cli(['routing', 'set'], env);
  assert.deepEqual([missing.code, missing.err[0]], [EXIT.usage, 'express-otp-kit: expected <routing>: express-otp-kit routing set <routing>']);
  const extra = await cli(['migrate', 'now'], env);
  assert.equal(extra.code, EXIT.usage);
});

it('a DATABASE_URL it cannot use fails with exit 1 and no credentials in the message', async () => {
  const ran = await cli(['status'], { DATABASE_URL: 'oracle://admin:hunter2@db:1521/x' });
  assert.equal(ran.code, EXIT.failed);
  assert.match(ran.err.join('\n'), /DATABASE_URL "oracle:\/\/\*\*\*@db:1521\/x" is not understood/);
  assert.doesNotMatch(ran.err.join('\n'), /hunter2/);
});

forEachDatabase('cli', (db) => {
  const env = (): Record<string, string> => ({ DATABASE_URL: db().url });

  it('status before migrate: exit 3, the pending migrations named; routing commands ask for migrate', async () => {
    const names = await migrationNames();
    const ran = await cli(['status'], env());
    assert.equal(ran.code, EXIT.notReady);
    assert.match(ran.out.join('\n'), new RegExp(`migrations: 0 applied, ${names.length} pending \\(${names.join(', ')}\\)`));
    const json = await cli(['status', '--json'], env());
    assert.deepEqual(JSON.parse(json.out[0] ?? ''), {
      database: db().url.replace(/\/\/[^@/]*@/, '//***@'),
      ready: false,
      problem: `${names.length} migration(s) pending: run \`express-otp-kit migrate\``,
      migrations: { applied: [], pending: names },
    });
    const get = await cli(['routing', 'get'], env());
    assert.equal(get.code, EXIT.failed);
    assert.match(get.err[0] ?? '', /table "otp_settings" does not exist: run `express-otp-kit migrate` first/);
  });

  it('migrate creates the tables once; status is then ready with the development routing', async () => {
    const names = await migrationNames();
    const first = await cli(['migrate'], env());
    assert.equal(first.code, EXIT.ok, first.err.join('\n'));
    assert.match(first.out[0] ?? '', new RegExp(`^Ran ${names.length} migration\\(s\\) on .*: ${names.join(', ')}$`));
    for (const table of ['otp_settings', 'otp_requests', 'otp_limits', 'otp_failures']) assert.ok(await db().knex.schema.hasTable(table), table);
    const again = await cli(['migrate', '--json'], env());
    assert.deepEqual(JSON.parse(again.out[0] ?? ''), { database: db().url.replace(/\/\/[^@/]*@/, '//***@'), ran: [], applied: names.length, pending: 0 });
    const status = await cli(['status'], env());
    assert.equal(status.code, EXIT.ok, status.err.join('\n'));
    assert.match(status.out.join('\n'), /routing: {4}Console \(from the development default/);
    assert.match(status.out.join('\n'), /ready: {6}yes/);
    const json = JSON.parse((await cli(['status', '--json'], env())).out[0] ?? '') as { ready: boolean; requests: Record<string, number> };
    assert.equal(json.ready, true);
    assert.equal(json.requests.sent, 0);
  });

  it('routing set validates like setRouting() (names, credentials) before it writes the row', async () => {
    const unknown = await cli(['routing', 'set', 'Twillio'], env());
    assert.equal(unknown.code, EXIT.failed);
    assert.match(unknown.err[0] ?? '', /routing from setRouting\(\) is not valid: .*Twillio/);
    const noCredentials = await cli(['routing', 'set', 'Console;Mada:+35987'], env());
    assert.equal(noCredentials.code, EXIT.failed);
    assert.match(noCredentials.err[0] ?? '', /provider Mada is routed but its settings are not usable: .*MADA_URL/);
    assert.equal(await db().knex('otp_settings').where({ key: 'otp_sms_provider' }).first(), undefined, 'nothing written');

    const set = await cli(['routing', 'set', 'Console;Mada:+35987,+35988'], { ...env(), ...MADA });
    assert.deepEqual([set.code, set.out], [EXIT.ok, ['routing set: Console;Mada:+35987,+35988']]);
    const row = (await db().knex('otp_settings').where({ key: 'otp_sms_provider' }).first()) as { value: string };
    assert.equal(row.value, 'Console;Mada:+35987,+35988');
    const get = await cli(['routing', 'get'], { ...env(), ...MADA });
    assert.deepEqual(get.out, ['Console;Mada:+35987,+35988', '# from the "otp_sms_provider" settings row']);
    const json = await cli(['routing', 'get', '--json'], { ...env(), ...MADA });
    assert.deepEqual(JSON.parse(json.out[0] ?? ''), { routing: 'Console;Mada:+35987,+35988', from: 'the "otp_sms_provider" settings row', row: 'Console;Mada:+35987,+35988' });
  });

  it('OTP_SMS_PROVIDER overrides the row: get says so, set writes the row and warns', async () => {
    const forced = { ...env(), ...MADA, OTP_SMS_PROVIDER: 'Console' };
    const get = await cli(['routing', 'get', '--json'], forced);
    assert.deepEqual(JSON.parse(get.out[0] ?? ''), { routing: 'Console', from: 'OTP_SMS_PROVIDER (overrides the "otp_sms_provider" settings row)', row: 'Console;Mada:+35987,+35988' });
    const set = await cli(['routing', 'set', 'Mada:+35987;Console'], forced);
    assert.equal(set.code, EXIT.ok);
    assert.match(set.err.join('\n'), /warning: OTP_SMS_PROVIDER is set here and overrides the row/);
    assert.equal(((await db().knex('otp_settings').where({ key: 'otp_sms_provider' }).first()) as { value: string }).value, 'Mada:+35987;Console');
  });

  it('purge deletes what retention no longer keeps and says how much, as lines or JSON', async () => {
    const old = Date.now() - 90 * 86_400_000;
    await db().knex('otp_requests').insert({
      request_id: '00000000-0000-4000-8000-0000000000aa', phone: '+359871250001', channel: 'sms', purpose: 'default', chain: 'Console', code_owner: 'kit',
      code_digest: 'd'.repeat(64), code_cipher: null, message_template: 't', status: 'sent', send_attempts: 1, verify_status: 'superseded', attempts: 0,
      expires_at: old, created_at: old, updated_at: old,
    });
    const ran = await cli(['purge', '--json'], env());
    assert.equal(ran.code, EXIT.ok, ran.err.join('\n'));
    const report = JSON.parse(ran.out[0] ?? '{}') as { requests: number; complete: boolean };
    assert.deepEqual([report.requests, report.complete], [1, true]);
    assert.equal(await db().knex('otp_requests').where({ phone: '+359871250001' }).first(), undefined);
    const again = await cli(['purge'], env());
    assert.match(again.out.join('\n'), /^Purged 0 request row\(s\)/);
  });

  it('status: a routed provider that cannot start is exit 3 with the reason', async () => {
    await db().knex('otp_settings').where({ key: 'otp_sms_provider' }).update({ value: 'Twilio' });
    const ran = await cli(['status'], env());
    assert.equal(ran.code, EXIT.notReady);
    assert.match(ran.out.join('\n'), /ready: {6}no, provider Twilio is routed but its settings are not usable: .*TWILIO_ACCOUNT_SID/);
    const fixed = await cli(['routing', 'set', 'Console'], env());
    assert.equal(fixed.code, EXIT.ok, 'a broken row can be replaced: set does not need the old routing to start');
  });

  it('the executable exits with the command code', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'lib/cli/bin.ts', 'status', '--json'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', OTP_SECRET: SECRET, DATABASE_URL: db().url, OTP_SMS_PROVIDER: 'Twilio' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    // Forced routing is built by createOtp: missing credentials fail before any command runs.
    assert.equal(run.status, EXIT.failed, run.stderr);
    assert.match(run.stderr, /^express-otp-kit: provider Twilio is routed but its settings are not usable/m);
    assert.equal(run.stdout, '');
  });
});
