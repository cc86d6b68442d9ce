/**
 * `express-otp-kit holds list` and `holds release <range|number>` in process: usage, the answers on
 * an empty database, what they say before `migrate`, a hold released from the shell (the release
 * across instances under load is in test/security/fraud-holds.test.ts).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { EXIT, type CliIo } from '../../lib/cli/io.js';
import { helpText, runCli } from '../../lib/cli/run.js';
import { createOtp } from '../../lib/index.js';
import { forEachDatabase, type TestDatabase } from '../helpers/db.js';

const SECRET = 'cli-test-secret-0123456789abcdefghijkl';

async function cli(argv: readonly string[], env: Record<string, string>): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { env: { NODE_ENV: 'test', OTP_SECRET: SECRET, ...env }, out: (l) => out.push(l), err: (l) => err.push(l) };
  return { code: await runCli(argv, io), out, err };
}

it('holds: listed in the help; a subcommand and its argument are required', async () => {
  const env = { DATABASE_URL: 'sqlite::memory:' };
  assert.ok(helpText().includes('holds list') && helpText().includes('holds release <range|number>'));
  const group = await cli(['holds'], env);
  assert.deepEqual([group.code, group.err[0]], [EXIT.usage, 'express-otp-kit: holds needs one of: list, release']);
  const missing = await cli(['holds', 'release'], env);
  assert.deepEqual([missing.code, missing.err[0]], [EXIT.usage, 'express-otp-kit: expected <range|number>: express-otp-kit holds release <range|number>']);
  assert.equal((await cli(['holds', 'list', 'now'], env)).code, EXIT.usage);
});

forEachDatabase('cli: holds', (db: () => TestDatabase) => {
  it('before migrate: exit 1 naming the missing table; after: an empty list, and a release that finds nothing', async () => {
    const env = { DATABASE_URL: db().url };
    const early = await cli(['holds', 'list'], env);
    assert.equal(early.code, EXIT.failed);
    assert.match(early.err.join('\n'), /does not exist: run `express-otp-kit migrate` first/);
    assert.equal((await cli(['migrate'], env)).code, EXIT.ok);
    const empty = await cli(['holds', 'list'], env);
    assert.deepEqual([empty.code, empty.out], [EXIT.ok, ['No range is held and no number is locked.']]);
    assert.deepEqual(JSON.parse((await cli(['holds', 'list', '--json'], env)).out.join('')), { holds: [] });
    const none = await cli(['holds', 'release', '+359871234567', '--json'], env);
    assert.equal(none.code, EXIT.ok);
    assert.deepEqual(JSON.parse(none.out.join('')), { released: false, kind: 'number', target: '+35987*****67', reason: 'not-locked' });
    const bad = await cli(['holds', 'release', 'all'], env);
    assert.equal(bad.code, EXIT.failed);
    assert.match(bad.err.join('\n'), /expected a number range such as "\+4915177"/);
  });

  it('a wrong-code lock set by the app is listed masked and released from the shell', async () => {
    const env = { DATABASE_URL: db().url };
    // The CLI knows the default limits only (10 wrong codes lock a number), so the app keeps them.
    const otp = createOtp({ db: db().knex, secret: SECRET, providers: ['Console'], console: { write: () => undefined }, env: {}, maxAttempts: 10 });
    await otp.migrate();
    const phone = '+359871234599';
    await otp.sendSms(phone);
    for (let i = 0; i < 10; i += 1) await otp.verify(phone, '000000').catch(() => undefined);
    const listed = JSON.parse((await cli(['holds', 'list', '--json'], env)).out.join('')) as { holds: { kind: string; target: string; reason: string }[] };
    const lock = listed.holds.find((h) => h.kind === 'number');
    assert.deepEqual(lock && { kind: lock.kind, target: lock.target, reason: lock.reason }, { kind: 'number', target: '+35987*****99', reason: 'verifyLock' });
    const released = await cli(['holds', 'release', phone], env);
    assert.deepEqual([released.code, released.out], [EXIT.ok, ['Released the number +35987*****99 (verifyLock).']]);
    assert.deepEqual((await otp.holds()).filter((h) => h.kind === 'number'), []);
    await otp.close();
  });
});
