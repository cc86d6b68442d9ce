/**
 * SMS pumping and flooding over HTTP: per-number cooldown and cap, per-IP (with IPv6 /56 and
 * X-Forwarded-For only behind a trusted proxy), per-prefix and per-country velocity, the daily
 * budget with its alert, canonical phone keys, the bot-challenge hook, and the per-IP verify cap.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { maskPhone } from '../../lib/index.js';
import type { ChallengeInput } from '../../lib/limits/config.js';
import { onAttackDatabases, postSend, postVerify, requestRows, sleep, attackAppStarter } from './helpers/attack-app.js';
import { freshMobile, freshRange, mobile } from './helpers/numbers.js';

/** The one 429 body of every send limit: which limit fired is not told; the wait is (also in Retry-After). */
function assertGeneric429(res: { status: number; body: unknown; headers: Record<string, string> }): void {
  assert.equal(res.status, 429);
  const retryAfter = Number(res.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After ${res.headers['retry-after']}`);
  assert.deepEqual(res.body, { error: { code: 'RATE_LIMITED', message: 'Too many requests; try again later.', retryAfter } });
}

onAttackDatabases('attack: send limits over HTTP', (db) => {
  const start = attackAppStarter(db);

  it('#21 per-number cooldown (default 60 s): a second send gets 429 with the generic body and Retry-After, no provider call', async () => {
    const app = await start();
    const phone = freshMobile();
    await postSend(app, phone).expect(202);
    const again = await postSend(app, phone, { channel: 'call' });
    assertGeneric429(again);
    const retryAfter = Number(again.headers['retry-after']);
    assert.ok(retryAfter >= 59 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(app.sendsTo(phone), 1);
    assert.equal((await requestRows(app, phone)).length, 1);
    assert.deepEqual(
      app.eventsNamed('limit-hit').map((e) => [e.limit, e.key]),
      [['sendCooldownSeconds', maskPhone(phone)]],
    );
  });

  it('#21 after the cooldown window the next send passes', async () => {
    const app = await start({ limits: { sendCooldownSeconds: 1 } });
    const phone = freshMobile();
    await postSend(app, phone).expect(202);
    assert.equal((await postSend(app, phone)).headers['retry-after'], '1');
    await sleep(1100);
    await postSend(app, phone).expect(202);
    assert.equal(app.sendsTo(phone), 2);
  });

  it('#21 per-number cap (default 5 per 10 min) holds when the cooldown is off', async () => {
    const app = await start({ limits: { sendCooldownSeconds: false } });
    const phone = freshMobile();
    for (let i = 0; i < 5; i += 1) await postSend(app, phone).expect(202);
    const sixth = await postSend(app, phone);
    assert.equal(sixth.status, 429);
    const retryAfter = Number(sixth.headers['retry-after']);
    assert.ok(retryAfter > 590 && retryAfter <= 600, `Retry-After ${retryAfter}`);
    assert.equal(app.sendsTo(phone), 5);
  });

  it('#22 per-IP cap (default 30 per 5 min): one IP cycling through many numbers is blocked after 30; another IP is not', async () => {
    const app = await start({}, { env: { TRUST_PROXY: 'loopback' } });
    for (let i = 0; i < 30; i += 1) await postSend(app, freshMobile(), { ip: '203.0.113.9' }).expect(202);
    const blocked = await postSend(app, freshMobile(), { ip: '203.0.113.9' });
    assert.equal(blocked.status, 429);
    assert.ok(Number(blocked.headers['retry-after']) > 290);
    await postSend(app, freshMobile(), { ip: '203.0.113.10' }).expect(202);
    assert.equal(app.sends.length, 31);
  });

  it('#14 a spoofed X-Forwarded-For without a trusted proxy keeps the client in one bucket', async () => {
    const app = await start({ limits: { sendsPerIp: { max: 3 } } });
    for (let i = 0; i < 3; i += 1) await postSend(app, freshMobile(), { ip: `192.0.2.${i + 1}` }).expect(202);
    const res = await postSend(app, freshMobile(), { ip: '192.0.2.99' });
    assert.equal(res.status, 429, 'X-Forwarded-For is ignored when TRUST_PROXY is off');
  });

  it('#14 behind a trusted proxy, IPv6 clients are grouped by /56: one /56 shares a bucket, the next /56 does not', async () => {
    const app = await start({ limits: { sendsPerIp: { max: 3 } } }, { env: { TRUST_PROXY: 'loopback' } });
    for (const ip of ['2001:db8:0:ab00::1', '2001:db8:0:abff:ffff::2', '2001:db8:0:ab12:1:2:3:4']) await postSend(app, freshMobile(), { ip }).expect(202);
    assert.equal((await postSend(app, freshMobile(), { ip: '2001:db8:0:ab99::7' })).status, 429);
    await postSend(app, freshMobile(), { ip: '2001:db8:0:ac00::1' }).expect(202);
    assert.deepEqual(app.eventsNamed('limit-hit').map((e) => [e.limit, e.key]), [['sendsPerIp', '2001:db8:0:ab00:0:0:0:0/56']]);
  });

  it('#23 per-prefix velocity (default 20 per hour per range): sequential new numbers under one prefix trip the prefix bucket', async () => {
    const app = await start({}, { env: { TRUST_PROXY: 'loopback' } });
    const range = freshRange();
    for (let i = 0; i < 20; i += 1) await postSend(app, mobile(range, i), { ip: `198.51.100.${i + 1}` }).expect(202);
    const pumped = await postSend(app, mobile(range, 20), { ip: '198.51.100.200' });
    assertGeneric429(pumped);
    assert.ok(Number(pumped.headers['retry-after']) > 3500);
    await postSend(app, mobile(freshRange(), 20), { ip: '198.51.100.201' }).expect(202);
    assert.equal(app.sends.length, 21);
    assert.deepEqual(app.eventsNamed('limit-hit').map((e) => [e.limit, e.key]), [['sendsPerPrefix', mobile(range, 20).slice(0, -4)]]);
  });

  it('#23 per-country velocity when configured: the 4th German number is refused, a Bulgarian one is not', async () => {
    const app = await start({ limits: { sendsPerCountry: { max: 3, windowSeconds: 3600 } } });
    for (let i = 0; i < 3; i += 1) await postSend(app, freshMobile()).expect(202);
    assert.equal((await postSend(app, freshMobile())).status, 429);
    await postSend(app, '+359881000001').expect(202);
  });

  it('#27 global spend ceiling: at the daily cap sends are refused and the alert fires once', async () => {
    const app = await start({ limits: { dailySendBudget: 3 } });
    for (let i = 0; i < 3; i += 1) await postSend(app, freshMobile()).expect(202);
    for (let i = 0; i < 3; i += 1) {
      const res = await postSend(app, freshMobile());
      assert.equal(res.status, 429);
      assert.ok(Number(res.headers['retry-after']) > 86_000);
    }
    assert.equal(app.sends.length, 3);
    const alerts = app.eventsNamed('budget-exhausted');
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]?.max, 3);
    assert.equal(alerts[0]?.windowSeconds, 86_400);
    assert.equal(app.logs.filter((l) => l.includes('daily send budget exhausted')).length, 1);
  });

  it('#17 one number, one bucket: formatted, E.164, full-width, Arabic-Indic, 00 and national forms share the cooldown', async () => {
    const app = await start({ defaultCountry: 'BG' });
    const forms = ['+359 (87) 123-4567', '+359871234567', '＋３５９８７１２３４５６７', '+٣٥٩٨٧١٢٣٤٥٦٧', '00359871234567', '087 123 4567'];
    await postSend(app, forms[0] as string).expect(202);
    for (const form of forms.slice(1)) {
      const res = await postSend(app, form);
      assert.equal(res.status, 429, `${form} is the same number`);
    }
    assert.deepEqual(app.sends.map((s) => s.phone), ['+359871234567']);
  });

  it('#28 bot challenge: false refuses before anything is stored or sent; a throwing hook fails closed; true lets the send through', async () => {
    const seen: ChallengeInput[] = [];
    let answer: 'yes' | 'no' | 'throw' = 'no';
    const app = await start(
      {
        challenge: (input) => {
          seen.push(input);
          if (answer === 'throw') throw new Error('captcha service down');
          return Promise.resolve(answer === 'yes');
        },
      },
      { env: { TRUST_PROXY: 'loopback' } },
    );
    const phone = freshMobile();
    const refused = await postSend(app, phone, { ip: '203.0.113.5', purpose: 'login' });
    assert.equal(refused.status, 428);
    assert.equal(refused.body.error.code, 'CHALLENGE_REQUIRED');
    assert.match(refused.body.error.message as string, /bot challenge/);
    assert.equal(app.sendsTo(phone), 0);
    assert.equal((await requestRows(app, phone)).length, 0);
    assert.deepEqual(seen[0], { phone, country: 'DE', channel: 'sms', purpose: 'login', ip: '203.0.113.5', challengeToken: undefined });

    answer = 'throw';
    const broken = await postSend(app, phone);
    assert.equal(broken.status, 428, 'a throwing hook refuses (fail closed)');
    assert.equal(app.sendsTo(phone), 0);
    assert.equal((await requestRows(app, phone)).length, 0);
    assert.ok(app.logs.some((l) => l.includes('challenge hook threw')));

    answer = 'yes';
    await postSend(app, phone).set('X-OTP-Challenge', 'captcha-answer-123').expect(202);
    assert.equal(app.sendsTo(phone), 1);
    assert.equal(seen.at(-1)?.challengeToken, 'captcha-answer-123', 'the router hands the X-OTP-Challenge header to the hook');
    assert.deepEqual(app.eventsNamed('send-refused').map((e) => e.reason), ['challenge', 'challenge']);
  });

  it('per-IP verify cap (default 30 per 5 min): the 31st verify from one client gets 429', async () => {
    const app = await start();
    const phone = freshMobile();
    for (let i = 0; i < 30; i += 1) {
      const res = await postVerify(app, phone, '123456');
      assert.equal(res.status, 422);
    }
    const capped = await postVerify(app, phone, '123456');
    assert.equal(capped.status, 429);
    assert.equal(capped.body.requestValid, false);
    assert.ok(Number(capped.headers['retry-after']) > 290);
  });

  it('send limits hold across two app instances sharing the database', async () => {
    const a = await start();
    const b = await start({}, { keepCounters: true });
    const phone = freshMobile();
    await postSend(a, phone).expect(202);
    assert.equal((await postSend(b, phone)).status, 429);
    assert.equal(a.sendsTo(phone) + b.sendsTo(phone), 1);
  });
});
