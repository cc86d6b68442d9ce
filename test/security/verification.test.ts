/**
 * Verification rules over HTTP: expiry on the server clock, single use, binding to request, phone
 * and purpose, fixed-length input, and codes with a leading zero.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createOtp } from '../../lib/index.js';
import { onAttackDatabases, postSend, postVerify, wrongCode, attackAppStarter } from './helpers/attack-app.js';
import { freshMobile } from './helpers/numbers.js';

onAttackDatabases('attack: verification rules over HTTP', (db) => {
  const start = attackAppStarter(db);

  it('#4 codes expire on the server clock: accepted at 599 s, refused at 600 s; ttlSeconds 601 is refused at startup', async () => {
    const app = await start({ ttlSeconds: 600 });
    const early = freshMobile();
    await postSend(app, early).expect(202);
    const late = freshMobile();
    await postSend(app, late).expect(202);
    app.clock.advance(599_000);
    await postVerify(app, early, app.codeFor(early)).expect(200);
    app.clock.advance(1_000);
    const expired = await postVerify(app, late, app.codeFor(late));
    assert.equal(expired.status, 422);
    assert.equal(expired.body.error.code, 'OTP_EXPIRED');
    assert.equal(expired.body.requestValid, false);
    assert.throws(() => createOtp({ db: db().knex, ttlSeconds: 601, env: {} }), /ttlSeconds.*10 minutes/);
  });

  it('#5 a code works once: a replay after a successful verify gets the generic failure', async () => {
    const app = await start();
    const phone = freshMobile();
    await postSend(app, phone).expect(202);
    const code = app.codeFor(phone);
    await postVerify(app, phone, code).expect(200);
    const replay = await postVerify(app, phone, code);
    assert.equal(replay.status, 422);
    assert.deepEqual(replay.body, {
      error: { code: 'OTP_NOT_FOUND', message: 'There is no pending code for this number; request a new one.', requestValid: false, codeValid: false },
      requestValid: false,
      codeValid: false,
    });
  });

  it('#8 a code is bound to its request, its phone and its purpose', async () => {
    const app = await start({ limits: { sendCooldownSeconds: false } });
    // Request B supersedes request A of the same number: A's code no longer works.
    const phone = freshMobile();
    await postSend(app, phone).expect(202);
    const codeA = app.codeFor(phone);
    let codeB = codeA;
    while (codeB === codeA) {
      await postSend(app, phone).expect(202);
      codeB = app.codeFor(phone);
    }
    assert.equal((await postVerify(app, phone, codeA)).body.error.code, 'OTP_INVALID');

    // Another phone: phone 2's live request does not take phone 1's code.
    const other = freshMobile();
    let otherCode = codeB;
    while (otherCode === codeB) {
      await postSend(app, other).expect(202);
      otherCode = app.codeFor(other);
    }
    assert.equal((await postVerify(app, other, codeB)).body.error.code, 'OTP_INVALID');

    // Another purpose: a code sent for "login" does not verify "payment" (and is not spent by trying).
    const login = freshMobile();
    await postSend(app, login, { purpose: 'login' }).expect(202);
    const loginCode = app.codeFor(login);
    const crossPurpose = await postVerify(app, login, loginCode, { purpose: 'payment' });
    assert.equal(crossPurpose.status, 422);
    assert.equal(crossPurpose.body.error.code, 'OTP_NOT_FOUND');
    await postVerify(app, login, loginCode, { purpose: 'login' }).expect(200);
    await postVerify(app, phone, codeB).expect(200);
  });

  it('#16 input of the wrong length or kind is a 400, never a 500 (constant-time compare only ever sees fixed-size digests)', async () => {
    const app = await start();
    const phone = freshMobile();
    await postSend(app, phone).expect(202);
    for (const code of ['12345', '1234567', '', '12345a', '１２３４５６', ' 123456', '123456\n', '٠١٢٣٤٥']) {
      const res = await postVerify(app, phone, code);
      assert.equal(res.status, 400, JSON.stringify(code));
      assert.equal(res.body.error.code, 'VALIDATION_FAILED');
      assert.equal(res.body.error.field, 'code');
    }
    await assert.rejects(app.otp.verify(phone, '12345'), (e: unknown) => (e as { code?: string }).code === 'VALIDATION_FAILED');
    await postVerify(app, phone, app.codeFor(phone)).expect(200);
  });

  it('#1 a code with a leading zero verifies as sent ("0…", never shortened)', async () => {
    const app = await start();
    let phone = '';
    let code = '';
    // About 1 code in 10 starts with 0; 200 tries miss with probability 0.9^200 ≈ 7e-10.
    for (let i = 0; i < 200 && !code.startsWith('0'); i += 1) {
      phone = freshMobile();
      await postSend(app, phone).expect(202);
      code = app.codeFor(phone);
      if (!code.startsWith('0')) await app.db.knex(app.otp.config.tables.limits).del();
    }
    assert.match(code, /^0[0-9]{5}$/);
    const shortened = await postVerify(app, phone, code.slice(1));
    assert.equal(shortened.status, 400);
    await postVerify(app, phone, code).expect(200);
  });

  it('#9 the attempts left are told honestly and the dead request stays dead after more guesses', async () => {
    const app = await start();
    const phone = freshMobile();
    await postSend(app, phone).expect(202);
    const code = app.codeFor(phone);
    const left: unknown[] = [];
    for (let i = 1; i <= 7; i += 1) {
      const { error } = (await postVerify(app, phone, wrongCode(code, i))).body as { error: { attemptsLeft?: number; code: string } };
      left.push(error.attemptsLeft ?? error.code);
    }
    assert.deepEqual(left, [4, 3, 2, 1, 0, 'OTP_TOO_MANY_ATTEMPTS', 'OTP_TOO_MANY_ATTEMPTS']);
  });
});
