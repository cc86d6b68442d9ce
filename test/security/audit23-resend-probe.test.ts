/**
 * Audit 23.1: `POST /otp/resend` told whether a number had a live code, and for which purpose
 * (422 without one, 429 with one, before any limit was counted). Now every resend counts the
 * client's `sendsPerIp` unit before the lookup, and a number without a live code (or with one of
 * another purpose) gets the answer a real resend gets: the same 429 inside the cooldowns, else a
 * look-alike 202 after as long as a real send takes, with no row and no provider call. Library
 * callers of `otp.resend()` still get `OTP_NOT_FOUND` unless they ask for `hideMissing`.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { OtpError } from '../../lib/index.js';
import { onAttackDatabases, postSend, postVerify, requestRows, sleep, attackAppStarter, type AttackApp } from './helpers/attack-app.js';
import { freshMobile } from './helpers/numbers.js';

const PROXY = { env: { TRUST_PROXY: 'loopback' } };

function postResend(app: AttackApp, phone: string, o: { channel?: string; purpose?: string; ip?: string } = {}) {
  const req = app.http.post('/otp/resend').set('Content-Type', 'application/json');
  if (o.ip !== undefined) void req.set('X-Forwarded-For', o.ip);
  return req.send({ phone, channel: o.channel ?? 'call', ...(o.purpose === undefined ? {} : { purpose: o.purpose }) });
}

/** What an observer sees of an answer: status, body keys with their value types, the headers that vary by path. */
function shape(res: { status: number; body: unknown; headers: Record<string, string> }): unknown {
  const body = res.body as Record<string, unknown>;
  const kinds = Object.fromEntries(Object.entries(body).map(([k, v]) => [k, typeof v === 'object' && v !== null ? Object.keys(v).sort().join(',') : typeof v]));
  return {
    status: res.status,
    kinds,
    channel: body.channel,
    status2: body.status,
    length: res.headers['content-length'],
    cache: res.headers['cache-control'],
    policy: res.headers['ratelimit-policy'],
  };
}

onAttackDatabases('audit 23.1: resend tells nothing about live codes', (db) => {
  const start = attackAppStarter(db);

  it('23.1 outside the cooldowns: live code, no code, another purpose and a verified code all get the same 202; only the live one is sent', async () => {
    const app = await start({ clock: Date.now, limits: { sendCooldownSeconds: 2, channelSwitchCooldownSeconds: 1 } });
    const live = freshMobile();
    const none = freshMobile();
    const otherPurpose = freshMobile();
    const verified = freshMobile();
    await postSend(app, live, { purpose: 'login' }).expect(202);
    await postSend(app, otherPurpose, { purpose: 'payment' }).expect(202);
    await postSend(app, verified, { purpose: 'login' }).expect(202);
    await postVerify(app, verified, app.codeFor(verified), { purpose: 'login' }).expect(200);
    await sleep(2200);
    const answers = [];
    for (const phone of [live, none, otherPurpose, verified]) answers.push(await postResend(app, phone, { purpose: 'login' }));
    const [real, ...others] = answers.map(shape);
    assert.equal((real as { status: number }).status, 202);
    for (const other of others) assert.deepEqual(other, real);
    assert.equal(app.sends.filter((s) => s.channel === 'call').length, 1, 'only the live request was resent');
    assert.deepEqual(app.sends.filter((s) => s.channel === 'call').map((s) => s.phone), [live]);
    assert.equal((await requestRows(app, none)).length, 0, 'no row for a number without a live code');
  });

  it('23.1 inside the switch cooldown: a fresh code, one of another purpose and one just verified all get the same 429', async () => {
    const app = await start();
    const live = freshMobile();
    const otherPurpose = freshMobile();
    const verified = freshMobile();
    await postSend(app, live, { purpose: 'login' }).expect(202);
    await postSend(app, otherPurpose, { purpose: 'payment' }).expect(202);
    await postSend(app, verified, { purpose: 'login' }).expect(202);
    await postVerify(app, verified, app.codeFor(verified), { purpose: 'login' }).expect(200);
    const answers = [];
    for (const phone of [live, otherPurpose, verified]) answers.push(await postResend(app, phone, { purpose: 'login' }));
    for (const res of answers) {
      assert.equal(res.status, 429, JSON.stringify(res.body));
      assert.equal((res.body as { error: { code: string } }).error.code, 'RATE_LIMITED');
      assert.ok(Math.abs(Number(res.headers['retry-after']) - 30) <= 1, `Retry-After ${res.headers['retry-after']}`);
    }
    assert.deepEqual(answers.slice(1).map(shape), answers.slice(0, -1).map(shape));
  });

  it('23.1 the per-client limit is counted before the lookup: 200 probes from one address are cut off after sendsPerIp (30)', async () => {
    const app = await start({}, PROXY);
    const statuses: number[] = [];
    for (let i = 0; i < 32; i += 1) statuses.push((await postResend(app, freshMobile(), { ip: '198.51.100.7' })).status);
    assert.deepEqual(statuses, [...Array<number>(30).fill(202), 429, 429]);
    const withCode = freshMobile();
    await postSend(app, withCode, { ip: '198.51.100.8' }).expect(202);
    const refused = await postResend(app, withCode, { ip: '198.51.100.7' });
    assert.equal(refused.status, 429, 'a number with a live code gets the same 429 once the client is over its limit');
    assert.ok(Number(refused.headers['retry-after']) > 250);
    assert.equal(app.sends.length, 1, 'no probe reached a provider');
    assert.ok(app.eventsNamed('limit-hit').some((e) => e.limit === 'sendsPerIp' && e.key === '198.51.100.7'));
  });

  it('23.1 a look-alike answer takes as long as a real resend (provider latency 150 ms)', async () => {
    const app = await start({ clock: Date.now, limits: { sendCooldownSeconds: 1, channelSwitchCooldownSeconds: 1, sendsPerNumber: false } }, { providerDelayMs: 150 });
    for (let i = 0; i < 3; i += 1) await postSend(app, freshMobile()).expect(202);
    const t0 = Date.now();
    await postResend(app, freshMobile()).expect(202);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 120, `the answer without a live code came after ${elapsed} ms, a real send takes ≥ 150 ms`);
  });

  it('23.1 library callers: otp.resend() still throws OTP_NOT_FOUND (after counting the ip), or answers a look-alike with hideMissing', async () => {
    const app = await start({ limits: { sendsPerIp: { max: 2, windowSeconds: 300 } } });
    const phone = freshMobile();
    await assert.rejects(app.otp.resend(phone, 'call', { ip: '192.0.2.55' }), (e: unknown) => e instanceof OtpError && e.code === 'OTP_NOT_FOUND');
    const lookalike = await app.otp.resend(phone, 'call', { ip: '192.0.2.55', hideMissing: true });
    assert.deepEqual([lookalike.channel, lookalike.status, lookalike.provider], ['call', 'sent', null]);
    assert.equal(lookalike.code, undefined);
    await assert.rejects(app.otp.resend(phone, 'call', { ip: '192.0.2.55' }), (e: unknown) => e instanceof OtpError && e.code === 'RATE_LIMITED');
    assert.equal(app.sends.length, 0);
    assert.equal((await requestRows(app, phone)).length, 0);
  });
});
