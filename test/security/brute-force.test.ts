/**
 * Guessing codes over HTTP against the example app: the per-request cap (5), the per-number
 * failure budget that survives resends (NIST: at most 100 consecutive failures), the short lock
 * that doubles, and IP rotation. Each test names its item of ../shared/design/security.md.
 */
import assert from 'node:assert/strict';
import { after, afterEach, it } from 'node:test';
import {
  failuresOf,
  onAttackDatabases,
  postSend,
  postVerify,
  requestRows,
  sleep,
  startAttackApp,
  wrongCode,
  type AttackApp,
} from './helpers/attack-app.js';
import { freshMobile } from './helpers/numbers.js';

onAttackDatabases('attack: brute force over HTTP', (db) => {
  let app: AttackApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  after(async () => {
    await app?.close();
  });

  it('#9 N wrong guesses kill the request: 5 wrong codes, then the right one is refused (OTP_TOO_MANY_ATTEMPTS)', async () => {
    app = await startAttackApp(db());
    const phone = freshMobile();
    assert.equal((await postSend(app, phone)).status, 202);
    const code = app.codeFor(phone);
    for (let i = 1; i <= 5; i += 1) {
      const res = await postVerify(app, phone, wrongCode(code, i));
      assert.equal(res.status, 422);
      assert.equal(res.body.error.code, 'OTP_INVALID');
      assert.equal(res.body.requestValid, true);
      assert.equal(res.body.error.attemptsLeft, 5 - i);
    }
    const last = await postVerify(app, phone, code);
    assert.equal(last.status, 422);
    assert.equal(last.body.error.code, 'OTP_TOO_MANY_ATTEMPTS');
    assert.equal(last.body.requestValid, false);
    assert.equal(last.body.token, undefined);
    assert.equal(Number((await requestRows(app, phone))[0]?.attempts), 5);
  });

  it('#3 a resend issues a new code, voids the old one and keeps the failure count (3 stays 3)', async () => {
    app = await startAttackApp(db(), { limits: { sendCooldownSeconds: false } });
    const phone = freshMobile();
    await postSend(app, phone).expect(202);
    const old = app.codeFor(phone);
    for (let i = 1; i <= 3; i += 1) await postVerify(app, phone, wrongCode(old, i)).expect(422);
    assert.equal(await failuresOf(app, phone), 3);

    let fresh = old;
    for (let tries = 0; fresh === old && tries < 3; tries += 1) {
      await postSend(app, phone).expect(202);
      fresh = app.codeFor(phone);
    }
    assert.notEqual(fresh, old, 'a resend delivers a new code');
    assert.equal(await failuresOf(app, phone), 3, 'the resend did not reset the per-number failure count');
    const rows = await requestRows(app, phone);
    assert.ok(rows.slice(0, -1).every((r) => r.verify_status === 'superseded'), 'older requests are superseded');

    const replayOld = await postVerify(app, phone, old);
    assert.equal(replayOld.status, 422);
    assert.equal(replayOld.body.error.code, 'OTP_INVALID', 'the old code is just a wrong code for the new request');
    assert.equal(await failuresOf(app, phone), 4);
    await postVerify(app, phone, fresh).expect(200);
    assert.equal(await failuresOf(app, phone), 0, 'a success forgives earlier failures (NIST SHOULD)');
  });

  it('#10 100 failures spread across requests and resends block the next verify, even with the right code; the lock ends after its cool-down', async () => {
    app = await startAttackApp(db(), {
      limits: { sendCooldownSeconds: false, sendsPerNumber: false, sendsPerPrefix: false, verifiesPerIp: false, sendsPerIp: false, verifyLock: false },
    });
    const phone = freshMobile();
    let failures = 0;
    // 25 requests × 4 wrong codes: the 25th request is still live (4 of 5 attempts used).
    for (let r = 0; r < 25; r += 1) {
      await postSend(app, phone).expect(202);
      const code = app.codeFor(phone);
      for (let i = 1; i <= 4; i += 1) {
        const res = await postVerify(app, phone, wrongCode(code, i));
        assert.equal(res.body.error.code, 'OTP_INVALID', `guess ${failures + 1}`);
        failures += 1;
      }
    }
    assert.equal(failures, 100);
    assert.equal(await failuresOf(app, phone), 100);
    const locked = await postVerify(app, phone, app.codeFor(phone));
    assert.equal(locked.status, 429, 'the right code is refused once 100 failures were spent');
    assert.equal(locked.body.error.code, 'RATE_LIMITED');
    assert.equal(locked.body.requestValid, false);
    assert.equal(locked.headers['retry-after'], String(24 * 3600));
    assert.deepEqual(app.eventsNamed('number-locked').map((e) => [e.lock, e.failures]), [['failureBudget', 100]]);
    assert.equal(app.eventsNamed('number-locked')[0]?.phone.includes(phone.slice(1)), false, 'the event masks the number');
    // A disabled number gets no new code either (it could not use it).
    const resend = await postSend(app, phone);
    assert.equal(resend.status, 429);
    assert.equal(app.sendsTo(phone), 25);

    app.clock.advance(24 * 3600 * 1000);
    await postSend(app, phone).expect(202);
    await postVerify(app, phone, app.codeFor(phone)).expect(200);
  });

  it('#11 the counter is keyed on the number: rotating the IP on every guess does not bypass the lock', async () => {
    app = await startAttackApp(db(), { limits: { sendCooldownSeconds: false } }, { env: { TRUST_PROXY: 'loopback' } });
    const phone = freshMobile();
    let ip = 0;
    const nextIp = () => `198.51.100.${(ip += 1)}`;
    // verifyLock default: 10 wrong codes across requests lock the number (4 + 4 + 2).
    for (const guesses of [4, 4, 2]) {
      await postSend(app, phone, { ip: nextIp() }).expect(202);
      const code = app.codeFor(phone);
      for (let i = 1; i <= guesses; i += 1) {
        const res = await postVerify(app, phone, wrongCode(code, i), { ip: nextIp() });
        assert.equal(res.body.error.code, 'OTP_INVALID');
      }
    }
    const res = await postVerify(app, phone, app.codeFor(phone), { ip: nextIp() });
    assert.equal(res.status, 429, 'the right code from a new IP is refused while the number is locked');
    assert.equal(res.headers['retry-after'], '300');
    assert.deepEqual(app.eventsNamed('number-locked').map((e) => [e.lock, e.lockSeconds]), [['verifyLock', 300]]);
    assert.equal((await postSend(app, phone, { ip: nextIp() })).status, 429, 'no new code for a locked number');
  });

  it('#12 guessing budget: an attacker loop with resends (fake clock, 10 min per round, 2 days) is cut off after 100 guesses, never more than 100 in any 24 h', async () => {
    app = await startAttackApp(db(), {
      limits: { sendCooldownSeconds: false, sendsPerNumber: false, sendsPerPrefix: false, verifiesPerIp: false, sendsPerIp: false, verifyLock: false },
    });
    const phone = freshMobile();
    const guessTimes: number[] = [];
    let refusedRounds = 0;
    // 2 simulated days of "resend, guess 5 times" every 10 minutes.
    for (let round = 0; round < 2 * 24 * 6; round += 1) {
      const sent = await postSend(app, phone);
      if (sent.status === 202) {
        const code = app.codeFor(phone);
        for (let i = 1; i <= 5; i += 1) {
          const res = await postVerify(app, phone, wrongCode(code, i));
          if (res.status === 429) break;
          assert.equal(res.body.error.code, 'OTP_INVALID');
          guessTimes.push(app.clock.now());
        }
      } else {
        assert.equal(sent.status, 429);
        refusedRounds += 1;
      }
      app.clock.advance(10 * 60_000);
    }
    // Without the budget the loop would have made 1440 guesses.
    assert.equal(guessTimes.length, 200, 'two budgets of 100, 24 h apart');
    assert.ok(refusedRounds > 0);
    for (let i = 0; i < guessTimes.length; i += 1) {
      const start = guessTimes[i] as number;
      const inWindow = guessTimes.filter((t) => t >= start && t < start + 24 * 3600 * 1000).length;
      assert.ok(inWindow <= 100, `${inWindow} guesses in the 24 h from guess ${i}`);
    }
    // Success chance of this attacker: at most 100 guesses per day against 10^6 codes, 0.01% a day.
    assert.ok(guessTimes.length / 1_000_000 <= 0.0002);
  });

  it('#13 progressive delay: each lock of a number doubles, and one success resets them', async () => {
    app = await startAttackApp(db(), { limits: { sendCooldownSeconds: false, verifyLock: { failures: 2, lockSeconds: 1, maxLockSeconds: 4 } } });
    const phone = freshMobile();
    await postSend(app, phone).expect(202);
    const code = app.codeFor(phone);
    await postVerify(app, phone, wrongCode(code, 1)).expect(422);
    await postVerify(app, phone, wrongCode(code, 2)).expect(422);
    const first = await postVerify(app, phone, code);
    assert.equal(first.status, 429);
    assert.equal(first.headers['retry-after'], '1');

    await sleep(1100);
    await postVerify(app, phone, wrongCode(code, 3)).expect(422);
    await postVerify(app, phone, wrongCode(code, 4)).expect(422);
    const second = await postVerify(app, phone, code);
    assert.equal(second.status, 429);
    assert.equal(second.headers['retry-after'], '2', 'the second lock is twice as long');

    await sleep(2100);
    await postVerify(app, phone, code).expect(200);
    assert.deepEqual(app.eventsNamed('number-locked').map((e) => e.lockSeconds), [1, 2]);

    await postSend(app, phone).expect(202);
    const next = app.codeFor(phone);
    await postVerify(app, phone, wrongCode(next, 1)).expect(422);
    await postVerify(app, phone, wrongCode(next, 2)).expect(422);
    const again = await postVerify(app, phone, next);
    assert.equal(again.status, 429);
    assert.equal(again.headers['retry-after'], '1', 'the success reset the escalation');
    assert.deepEqual(app.eventsNamed('number-locked').map((e) => e.lockSeconds), [1, 2, 1]);
  });

  it('#10 the failure budget holds across two app instances sharing the database', async () => {
    const limits = { sendCooldownSeconds: false, sendsPerNumber: false, sendsPerPrefix: false, verifiesPerIp: false, sendsPerIp: false, verifyLock: false, failureBudget: { failures: 8 } } as const;
    app = await startAttackApp(db(), { limits });
    const other = await startAttackApp(db(), { limits }, { keepCounters: true });
    try {
      const phone = freshMobile();
      await postSend(app, phone).expect(202);
      const first = app.codeFor(phone);
      for (let i = 1; i <= 4; i += 1) await postVerify(i % 2 === 0 ? app : other, phone, wrongCode(first, i)).expect(422);
      await postSend(other, phone).expect(202);
      const second = other.codeFor(phone);
      for (let i = 1; i <= 4; i += 1) await postVerify(i % 2 === 0 ? other : app, phone, wrongCode(second, i)).expect(422);
      assert.equal((await postVerify(app, phone, second)).status, 429);
      assert.equal((await postVerify(other, phone, second)).status, 429);
    } finally {
      await other.close();
    }
  });
});
