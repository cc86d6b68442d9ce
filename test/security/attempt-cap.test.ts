/**
 * Audit 19.1 (High): the attempt cap bounds how many guesses are decided per request. A burst of
 * wrong guesses followed ~10 ms later by the right one must not let the right one win once the
 * cap is reached, whatever path the code takes (kit digest, with and without the failure budget).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { VerifyResult } from '../../lib/index.js';
import { isOtpError } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Any other code of the same length. */
const wrongOf = (code: string, i: number): string => String((Number(code) + 1 + i) % 1_000_000).padStart(code.length, '0');

type Answer = VerifyResult | { refused: string };

async function guess(verify: () => Promise<VerifyResult>): Promise<Answer> {
  try {
    return await verify();
  } catch (error) {
    if (isOtpError(error)) return { refused: error.code };
    throw error;
  }
}

forEachDatabase('attempt cap under a burst (audit 19.1)', (db) => {
  for (const setting of [
    { name: 'failure budget on (default limits, fresh IPs)', limits: { verifiesPerIp: { max: 1000, windowSeconds: 60 }, verifyLock: false } as const },
    { name: 'limits off', limits: false as const },
  ]) {
    it(`49 wrong guesses then the right one 10 ms later: at most maxAttempts are decided and the right one is refused (${setting.name})`, async () => {
      const kit = await createTestKit(db(), { limits: setting.limits });
      const phone = setting.limits === false ? '+359871000001' : '+359871000002';
      const sent = await kit.otp.sendSms(phone);
      const code = sent.code ?? '';
      const wrong = Array.from({ length: 49 }, (_, i) => guess(() => kit.otp.verify(phone, wrongOf(code, i), { ip: `203.0.113.${i + 1}` })));
      await sleep(10);
      const right = await guess(() => kit.otp.verify(phone, code, { ip: '198.51.100.7' }));
      const answers = await Promise.all(wrong);
      const decided = answers.filter((a) => 'reason' in a && a.reason === 'OTP_INVALID');
      assert.ok(decided.length <= kit.otp.config.maxAttempts, `${decided.length} wrong guesses were decided (cap ${kit.otp.config.maxAttempts})`);
      assert.equal(decided.length, kit.otp.config.maxAttempts, 'the first guesses of the burst are the ones decided');
      assert.ok(!('codeValid' in right) || !right.codeValid, `the right code after the cap must be refused, got ${JSON.stringify(right)}`);
      const row = (await db().knex(kit.otp.config.tables.requests).where({ request_id: sent.requestId }).first()) as Record<string, unknown>;
      assert.equal(row.verify_status, 'pending');
      assert.equal(Number(row.attempts), kit.otp.config.maxAttempts);
    });
  }

  it('a right code among a parallel burst wins only as one of the first maxAttempts decided guesses', async () => {
    const kit = await createTestKit(db(), { limits: false });
    const phone = '+359871000003';
    const sent = await kit.otp.sendSms(phone);
    const code = sent.code ?? '';
    // All at once: whichever order the database decides them in, at most maxAttempts guesses count.
    const all = [...Array.from({ length: 20 }, (_, i) => wrongOf(code, i)), code];
    const answers = await Promise.all(all.map((c) => guess(() => kit.otp.verify(phone, c))));
    const wins = answers.filter((a) => 'codeValid' in a && a.codeValid);
    const counted = answers.filter((a) => 'reason' in a && a.reason === 'OTP_INVALID');
    assert.ok(wins.length <= 1);
    assert.ok(counted.length + wins.length <= kit.otp.config.maxAttempts, `${counted.length} wrong + ${wins.length} right decided`);
  });
});
