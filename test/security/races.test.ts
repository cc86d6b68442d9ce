/**
 * Racing verifies over HTTP: many parallel requests with the right code (exactly one may win) and
 * with wrong codes (the per-request cap and the per-number counters must not be overrun), within
 * one app and across two app instances on one database (as two processes would be).
 */
import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import type { OtpOptions } from '../../lib/index.js';
import { failuresOf, onAttackDatabases, postSend, postVerify, requestRows, startAttackApp, wrongCode, type AttackApp } from './helpers/attack-app.js';
import { freshMobile } from './helpers/numbers.js';

/** Everything but the counters under test: 50 verifies from one client are the point here. */
const RACE_LIMITS: OtpOptions = { limits: { sendCooldownSeconds: false, sendsPerNumber: false, sendsPerIp: false, verifiesPerIp: false } };

const statusCounts = (statuses: number[]): Record<number, number> => {
  const out: Record<number, number> = {};
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
  return out;
};

onAttackDatabases('attack: racing verifies over HTTP', (db) => {
  const apps: AttackApp[] = [];
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });
  const start = async (options: OtpOptions = RACE_LIMITS, keepCounters = false) => {
    const app = await startAttackApp(db(), options, { keepCounters });
    apps.push(app);
    return app;
  };

  it('#6 atomic consume: 50 parallel correct verifies, exactly one wins (20 runs in a row)', async () => {
    const app = await start();
    for (let run = 0; run < 20; run += 1) {
      const phone = freshMobile();
      await postSend(app, phone).expect(202);
      const code = app.codeFor(phone);
      const answers = await Promise.all(Array.from({ length: 50 }, () => postVerify(app, phone, code)));
      const winners = answers.filter((r) => r.status === 200);
      assert.equal(winners.length, 1, `run ${run}: ${JSON.stringify(statusCounts(answers.map((r) => r.status)))}`);
      assert.ok(typeof winners[0]?.body.token === 'string');
      for (const loser of answers.filter((r) => r.status !== 200)) {
        assert.equal(loser.status, 422, `run ${run}: a loser got ${loser.status} ${JSON.stringify(app.eventsNamed('limit-hit'))} ${app.logs.join('\n')}`);
        assert.equal(loser.body.requestValid, false);
        assert.equal(loser.body.token, undefined);
      }
      assert.equal(await failuresOf(app, phone), 0, 'the right code is never counted as a failure');
    }
  });

  it('#6 atomic consume across two app instances: 2 × 25 parallel correct verifies, exactly one wins (5 runs)', async () => {
    const a = await start();
    const b = await start(RACE_LIMITS, true);
    for (let run = 0; run < 5; run += 1) {
      const phone = freshMobile();
      await postSend(a, phone).expect(202);
      const code = a.codeFor(phone);
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => postVerify(i % 2 === 0 ? a : b, phone, code)));
      assert.equal(answers.filter((r) => r.status === 200).length, 1, `run ${run}: ${JSON.stringify(statusCounts(answers.map((r) => r.status)))}`);
    }
  });

  it('#7 atomic attempt counting: 50 parallel wrong verifies against max=5, then the right code is refused (5 runs)', async () => {
    const app = await start();
    for (let run = 0; run < 5; run += 1) {
      const phone = freshMobile();
      await postSend(app, phone).expect(202);
      const code = app.codeFor(phone);
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => postVerify(app, phone, wrongCode(code, i + 1))));
      const counted = answers.filter((r) => r.body.error?.code === 'OTP_INVALID');
      assert.equal(counted.length, 5, `run ${run}: ${JSON.stringify(statusCounts(answers.map((r) => r.status)))}`);
      for (const r of answers) {
        assert.equal(r.status, 422);
        assert.ok(['OTP_INVALID', 'OTP_TOO_MANY_ATTEMPTS'].includes(r.body.error.code as string), r.body.error.code as string);
      }
      assert.equal(Number((await requestRows(app, phone))[0]?.attempts), 5, 'the request row counted exactly 5');
      assert.equal(await failuresOf(app, phone), 5, 'the number counted exactly 5 failures (parallel guesses gave theirs back)');
      const right = await postVerify(app, phone, code);
      assert.equal(right.status, 422);
      assert.equal(right.body.error.code, 'OTP_TOO_MANY_ATTEMPTS');
    }
  });

  it('#7 the per-number lock holds under parallel wrong guesses spread over two app instances', async () => {
    const options: OtpOptions = { limits: { ...RACE_LIMITS.limits as object, verifyLock: { failures: 8 } } };
    const a = await start(options);
    const b = await start(options, true);
    const phone = freshMobile();
    // Two requests' worth of parallel wrong guesses: 5 + 5 counted, the lock trips at 8.
    for (let r = 0; r < 2; r += 1) {
      await postSend(a, phone).expect(202);
      const code = a.codeFor(phone);
      await Promise.all(Array.from({ length: 20 }, (_, i) => postVerify(i % 2 === 0 ? a : b, phone, wrongCode(code, i + 1))));
    }
    assert.equal(a.eventsNamed('number-locked').length + b.eventsNamed('number-locked').length, 1, 'exactly one lock was set');
    assert.equal((await postVerify(b, phone, '000000')).status, 429);
  });

  it('#27 the daily budget is counted atomically: 40 parallel sends against a budget of 25 give exactly 25 × 202', async () => {
    const app = await start({ limits: { ...RACE_LIMITS.limits as object, sendsPerPrefix: false, dailySendBudget: 25 } });
    const answers = await Promise.all(Array.from({ length: 40 }, () => postSend(app, freshMobile())));
    assert.deepEqual(statusCounts(answers.map((r) => r.status)), { 202: 25, 429: 15 });
    assert.equal(app.sends.length, 25);
    assert.equal(app.eventsNamed('budget-exhausted').length, 1);
  });
});
