/**
 * Fraud guard, safe list (issue 25): numbers, prefixes and client IPs/networks that no send or
 * verify limit refuses, from the `safeList` option and the `otp_safe_list` settings row (re-read,
 * so a change needs no restart). The destination policy still applies unless an entry bypasses it.
 * No HTTP route reads or writes the list.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import express from 'express';
import { Registry } from 'prom-client';
import request from 'supertest';
import { otpRouter } from '../../lib/http/router.js';
import { otpStatusRouter } from '../../lib/http/status-router.js';
import { otpMetrics } from '../../lib/observability/metrics.js';
import { readSetting } from '../../lib/storage/settings.js';
import { forEachDatabase } from '../helpers/db.js';
import { errorOf, fraudKit, pause, QUIET_LIMITS } from './helpers/fraud-kit.js';
import { BLOCKED_SAMPLES, freshRange, mobile } from './helpers/numbers.js';

const COOLDOWN = { ...QUIET_LIMITS, sendCooldownSeconds: 60 } as const;

forEachDatabase('fraud guard: safe list', (db) => {
  it('a safe-listed number sends twice within the cooldown; a number not on the list does not', async () => {
    const range = freshRange();
    const safe = mobile(range, 1);
    const other = mobile(range, 2);
    const kit = await fraudKit(db(), { limits: COOLDOWN, safeList: { numbers: [safe] } });
    const metrics = otpMetrics(kit.otp, { registry: new Registry() });
    await kit.otp.sendSms(safe);
    await kit.otp.sendSms(safe);
    assert.equal(kit.sendsTo(safe), 2);
    await kit.otp.sendSms(other);
    assert.equal((await errorOf(() => kit.otp.sendSms(other))).code, 'RATE_LIMITED');
    assert.equal(kit.sendsTo(other), 1);
    assert.deepEqual(kit.eventsNamed('limit-hit').map((h) => h.limit), ['sendCooldownSeconds'], 'only the other number met the limit');
    assert.equal(kit.eventsNamed('safe-listed').length, 2);
    assert.match(await metrics.registry.metrics(), /otp_safe_list_hits_total\{kind="number",use="send"\} 2/);
    metrics.stop();
  });

  it('prefixes and IP networks (IPv4 and IPv6 CIDR) are safe too; other clients still meet the limits', async () => {
    const range = freshRange();
    const kit = await fraudKit(db(), { limits: { ...COOLDOWN, verifiesPerIp: { max: 1, windowSeconds: 600 } }, safeList: { prefixes: [mobile(range, 0).slice(0, 10)], ips: ['10.0.0.0/8', '2001:db8::/32'] } });
    await kit.otp.sendSms(mobile(range, 5));
    await kit.otp.sendSms(mobile(range, 5));
    const outside = mobile(freshRange(), 5);
    await kit.otp.sendSms(outside, { ip: '11.0.0.1' });
    await kit.otp.sendSms(outside, { ip: '10.200.3.4' });
    await kit.otp.sendSms(outside, { ip: '::ffff:10.200.3.4' });
    await kit.otp.sendSms(outside, { ip: '2001:db8:1:2::7' });
    assert.equal(kit.sendsTo(outside), 4, 'within the cooldown, from safe networks');
    assert.equal((await errorOf(() => kit.otp.sendSms(outside, { ip: '2001:db9::7' }))).code, 'RATE_LIMITED');
    assert.equal((await errorOf(() => kit.otp.sendSms(outside, { ip: '11.0.0.1' }))).code, 'RATE_LIMITED');
    // Verify limits: the safe network verifies past the per-IP cap, another address does not.
    for (let i = 0; i < 3; i += 1) await kit.otp.verify(outside, '000001', { ip: '10.9.9.9' });
    await kit.otp.verify(outside, '000001', { ip: '192.0.2.50' });
    assert.equal((await errorOf(() => kit.otp.verify(outside, '000001', { ip: '192.0.2.50' }))).code, 'RATE_LIMITED');
    const kinds = kit.eventsNamed('safe-listed').map((e) => `${e.kind}/${e.use}`);
    assert.deepEqual(kinds, ['prefix/send', 'prefix/send', 'ip/send', 'ip/send', 'ip/send', 'ip/verify', 'ip/verify', 'ip/verify']);
  });

  it('the destination policy still applies to a safe-listed number unless its entry bypasses it', async () => {
    const kit = await fraudKit(db(), { limits: COOLDOWN, safeList: { numbers: [BLOCKED_SAMPLES.PREMIUM_RATE, { number: BLOCKED_SAMPLES.TOLL_FREE, bypassPolicy: true }] } });
    await kit.otp.sendSms(BLOCKED_SAMPLES.PREMIUM_RATE);
    assert.equal(kit.sendsTo(BLOCKED_SAMPLES.PREMIUM_RATE), 0, 'premium-rate: a decoy, no provider call');
    assert.equal(kit.eventsNamed('send-refused')[0]?.reason, 'number-type');
    await kit.otp.sendSms(BLOCKED_SAMPLES.TOLL_FREE);
    await kit.otp.sendSms(BLOCKED_SAMPLES.TOLL_FREE);
    assert.equal(kit.sendsTo(BLOCKED_SAMPLES.TOLL_FREE), 2, 'bypassPolicy: sent, and twice within the cooldown');
  });

  it('a change of the settings row takes effect on another instance without a restart', async () => {
    const options = { limits: COOLDOWN, settingsRefreshSeconds: 0.1 };
    const a = await fraudKit(db(), options);
    const b = await fraudKit(db(), options);
    const phone = mobile(freshRange(), 7);
    await a.otp.sendSms(phone);
    assert.equal((await errorOf(() => a.otp.sendSms(phone))).code, 'RATE_LIMITED');
    await b.otp.setSafeList({ numbers: [phone] });
    assert.equal(await readSetting(db().knex, a.otp.config.tables, 'otp_safe_list'), JSON.stringify({ numbers: [{ number: phone }], prefixes: [], ips: [] }));
    await pause(250);
    await a.otp.sendSms(phone);
    await a.otp.sendSms(phone);
    assert.equal(a.sendsTo(phone), 3, 'instance A sees the new list');
    await b.otp.setSafeList({});
    await pause(250);
    await a.otp.sendSms(phone).catch(() => undefined);
    assert.equal((await errorOf(() => a.otp.sendSms(phone))).code, 'RATE_LIMITED', 'taken off the list: the cooldown applies again');
  });

  it('setSafeList validates before it writes: a bad entry is VALIDATION_FAILED naming it, and the row is left as it was', async () => {
    const kit = await fraudKit(db(), { limits: COOLDOWN });
    await kit.otp.setSafeList({ ips: ['192.0.2.0/24'] });
    const before = await readSetting(db().knex, kit.otp.config.tables, 'otp_safe_list');
    const cases: [unknown, RegExp][] = [
      [{ ips: ['10.0.0.1', '10.0.0.0/33'] }, /safeList\.ips\[1\]/],
      [{ ips: ['not-an-ip'] }, /safeList\.ips\[0\]/],
      [{ numbers: ['+1'] }, /safeList\.numbers\[0\]/],
      [{ prefixes: ['3598'] }, /safeList\.prefixes\[0\]/],
      [{ numbers: [{ number: '+359871234567', bypassPolicy: 'yes' }] }, /safeList\.numbers\[0\]/],
      [{ phones: ['+359871234567'] }, /safeList\.phones/],
      ['everyone', /safeList/],
    ];
    for (const [input, field] of cases) {
      const error = await errorOf(() => kit.otp.setSafeList(input as never));
      assert.equal(error.code, 'VALIDATION_FAILED', JSON.stringify(input));
      assert.equal(error.status, 400);
      assert.match(error.message, field);
    }
    assert.equal(await readSetting(db().knex, kit.otp.config.tables, 'otp_safe_list'), before);
  });

  it('a malformed settings row is ignored (logged) and the last good list stays in force', async () => {
    const kit = await fraudKit(db(), { limits: COOLDOWN, settingsRefreshSeconds: 0.1 });
    const phone = mobile(freshRange(), 8);
    await kit.otp.setSafeList({ numbers: [phone] });
    await kit.otp.sendSms(phone);
    await db().knex(kit.otp.config.tables.settings).where('key', 'otp_safe_list').update({ value: '{"ips":["999.1.1.1"]}' });
    await pause(250);
    await kit.otp.sendSms(phone);
    assert.equal(kit.sendsTo(phone), 2);
    assert.ok(kit.logs.some((l) => l.includes('ignoring an invalid safe-list setting')));
  });

  it('no HTTP route lets a client read or write the safe list, and otp.config does not show it', async () => {
    const kit = await fraudKit(db(), { limits: COOLDOWN, safeList: { numbers: ['+359871234567'], ips: ['10.0.0.0/8'] } });
    const row = await readSetting(db().knex, kit.otp.config.tables, 'otp_safe_list');
    const app = express();
    app.use('/otp', otpRouter(kit.otp));
    app.use('/admin/otp', otpStatusRouter(kit.otp));
    for (const path of ['/otp/safe-list', '/otp/safelist', '/otp/safeList', '/otp/safe_list', '/otp/settings', '/admin/otp/safe-list', '/admin/otp/settings']) {
      for (const method of ['get', 'post', 'put'] as const) {
        const res = await request(app)[method](path).set('Content-Type', 'application/json').send(method === 'get' ? undefined : { numbers: ['+359881234567'] });
        assert.equal(res.status, 404, `${method.toUpperCase()} ${path}`);
        assert.ok(!JSON.stringify(res.body).includes('359871234567'), `${method.toUpperCase()} ${path} shows no entry`);
      }
    }
    const spec = await request(app).get('/otp/openapi.json');
    assert.ok(!/safe/i.test(Object.keys((spec.body as { paths?: object }).paths ?? {}).join(' ')), 'the API description has no such route');
    assert.ok(!JSON.stringify(kit.otp.config).includes('359871234567'), 'otp.config leaves the safe list out');
    assert.equal(await readSetting(db().knex, kit.otp.config.tables, 'otp_safe_list'), row, 'nothing was written');
  });
});
