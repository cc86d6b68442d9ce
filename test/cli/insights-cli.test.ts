/**
 * `express-otp-kit insights` on every database: the same figures as `otp.insights()`, as JSON or
 * as a table; bad dates and dimensions fail with the option's name.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { EXIT, type CliIo } from '../../lib/cli/io.js';
import { runCli } from '../../lib/cli/run.js';
import { internalsOf } from '../../lib/service/internals.js';
import { sweepEnds } from '../../lib/service/request-ends.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit, TEST_SECRET } from '../helpers/kit.js';

async function cli(argv: readonly string[], env: Record<string, string>): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { env: { NODE_ENV: 'test', OTP_SECRET: TEST_SECRET, OTP_SMS_PROVIDER: 'Console', ...env }, out: (l) => out.push(l), err: (l) => err.push(l) };
  return { code: await runCli(argv, io), out, err };
}

forEachDatabase('cli insights', (db) => {
  it('prints the figures of otp.insights() as JSON and as a table', async () => {
    const kit = await createTestKit(db());
    for (const phone of ['+359881234567', '+359881234568', '+4915123456789']) {
      await kit.otp.sendSms(phone);
      kit.clock.advance(12_000);
    }
    assert.equal((await kit.otp.verify('+359881234567', /OTP ([0-9]+) for \+35988/.exec(kit.delivered[0] ?? '')?.[1] ?? '')).codeValid, true);
    kit.clock.advance(600_000);
    assert.equal(await sweepEnds(internalsOf(kit.otp)), 3);
    const range = { from: new Date('2026-11-25T00:00:00Z'), to: new Date('2026-11-26T00:00:00Z') };
    const expected = await kit.otp.insights({ ...range, groupBy: ['country', 'provider'] });
    const env = { DATABASE_URL: db().url };
    const json = await cli(['insights', '--from', '2026-11-25', '--to=2026-11-26', '--by', 'country,provider', '--json'], env);
    assert.equal(json.code, EXIT.ok, json.err.join('\n'));
    assert.deepEqual(JSON.parse(json.out[0] ?? '{}'), expected);
    assert.equal(expected.totals.requests, 3);
    assert.equal(expected.totals.verified, 1);
    const table = await cli(['insights', '--from', '2026-11-25', '--to', '2026-11-26', '--by', 'country'], env);
    assert.equal(table.code, EXIT.ok);
    assert.match(table.out[1] ?? '', /^country\s+requests\s+delivered\s+verified\s+conversion/);
    assert.match(table.out.find((l) => l.startsWith('BG')) ?? '', /^BG\s+2\s+2\s+1\s+50\.0%/);
    assert.match(table.out.at(-1) ?? '', /^total\s+3\s+3\s+1\s+33\.3%/);
    // By workflow step: no workflow here, so every request is step 1.
    const bySteps = await cli(['insights', '--from', '2026-11-25', '--to', '2026-11-26', '--by', 'step'], env);
    assert.equal(bySteps.code, EXIT.ok, bySteps.err.join('\n'));
    assert.match(bySteps.out[1] ?? '', /^step\s+requests/);
    assert.match(bySteps.out.find((l) => l.startsWith('1 ')) ?? '', /^1\s+3\s+3\s+1\s+33\.3%/);
    const badBy = await cli(['insights', '--by', 'city'], env);
    assert.deepEqual([badBy.code, badBy.err[0]], [EXIT.failed, 'express-otp-kit: --by takes country, channel, provider, purpose, step, day, hour (comma-separated); got "city"']);
    const badDate = await cli(['insights', '--from', 'yesterday'], env);
    assert.equal(badDate.code, EXIT.failed);
    assert.match(badDate.err[0] ?? '', /--from must be an ISO 8601 date/);
    assert.equal((await cli(['insights', '--from'], env)).code, EXIT.usage);
    await kit.otp.close();
  });
});
