/**
 * Fraud guard, monitor mode (issue 25): a limit, the destination policy or the breaker in monitor
 * mode keeps counting and reports each would-be refusal as one `limit-hit` (or `send-refused`) with
 * `monitored: true`, and the request goes through.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Registry } from 'prom-client';
import { createOtp } from '../../lib/index.js';
import { otpMetrics } from '../../lib/observability/metrics.js';
import { forEachDatabase } from '../helpers/db.js';
import { TEST_SECRET } from '../helpers/kit.js';
import { errorOf, fraudKit, QUIET_LIMITS } from './helpers/fraud-kit.js';
import { BLOCKED_SAMPLES, freshRange, mobile } from './helpers/numbers.js';

it('limits.monitor names are checked: an unknown name or a non-boolean flag is a config error naming it', () => {
  const make = (limits: unknown) => () => createOtp({ db: 'sqlite::memory:', secret: TEST_SECRET, env: {}, limits: limits as never });
  assert.throws(make({ monitor: ['sendCooldownSeconds', 'sendsPerPhone'] }), (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && /limits\.monitor.*"sendsPerPhone"/.test(e.message));
  assert.throws(make({ monitor: 'yes' }), /limits\.monitor/);
  assert.throws(make({ sendsPerNumber: { max: 5, monitor: 'yes' } }), /limits\.sendsPerNumber\.monitor/);
  assert.throws(make({ conversionBreaker: { maxHoldSeconds: 0 } }), /maxHoldSeconds/);
  assert.throws(make({ sendsPerNumber: { max: 0, monitor: true } }), /limits\.sendsPerNumber\.max/, 'the rest of the limit is still validated');
  const otp = createOtp({ db: 'sqlite::memory:', secret: TEST_SECRET, env: {}, limits: { monitor: ['sendCooldownSeconds', 'conversionBreaker'], sendsPerNumber: { max: 5, windowSeconds: 600, monitor: true } } });
  assert.equal(otp.config.limits.sendsPerNumber === false ? 0 : otp.config.limits.sendsPerNumber.max, 5);
  assert.ok(!('monitor' in (otp.config.limits.sendsPerNumber as object)), 'the flag does not leak into the resolved limit');
  void otp.close();
});

forEachDatabase('fraud guard: monitor mode', (db) => {
  it('limits.monitor: true: a burst that would be refused all passes, each would-be refusal is one monitored limit-hit, the counter is kept', async () => {
    const kit = await fraudKit(db(), { limits: { ...QUIET_LIMITS, monitor: true, sendsPerNumber: { max: 3, windowSeconds: 600 } } });
    const phone = mobile(freshRange(), 1);
    for (let i = 0; i < 7; i += 1) await kit.otp.sendSms(phone, { ip: '203.0.113.9' });
    assert.equal(kit.sendsTo(phone), 7, 'every send reached the provider');
    const hits = kit.eventsNamed('limit-hit');
    assert.equal(hits.length, 4, 'sends 4 to 7 would have been refused: one event each');
    for (const hit of hits) {
      assert.equal(hit.limit, 'sendsPerNumber');
      assert.equal(hit.monitored, true);
      assert.equal(hit.channel, 'sms');
      assert.equal(hit.country, 'DE');
      assert.ok(!hit.key.includes(phone.slice(-6)), 'the number is masked');
    }
    // sendsPerNumber is slot 3 of the number's row (lib/limits/keys.ts).
    const row = await db().knex(kit.otp.config.tables.limits).where('key', `n:${phone}`).first<{ points_3: unknown }>('points_3');
    assert.equal(Number(row?.points_3), 7, 'the counter kept counting');
  });

  it('by name: the cooldown is watched while sendsPerNumber still refuses (one monitored event per watched limit per request)', async () => {
    const kit = await fraudKit(db(), { limits: { ...QUIET_LIMITS, monitor: ['sendCooldownSeconds'], sendCooldownSeconds: 60, sendsPerNumber: { max: 3, windowSeconds: 600 } } });
    const phone = mobile(freshRange(), 2);
    for (let i = 0; i < 3; i += 1) await kit.otp.sendSms(phone);
    const refused = await errorOf(() => kit.otp.sendSms(phone));
    assert.equal(refused.code, 'RATE_LIMITED');
    assert.equal(kit.sendsTo(phone), 3);
    const hits = kit.eventsNamed('limit-hit').map((h) => `${h.limit}:${h.monitored === true ? 'monitored' : 'refused'}`);
    assert.deepEqual(hits, ['sendCooldownSeconds:monitored', 'sendCooldownSeconds:monitored', 'sendCooldownSeconds:monitored', 'sendsPerNumber:refused']);
  });

  it('monitor: true inside a limit given as an object watches that limit only', async () => {
    const kit = await fraudKit(db(), { limits: { ...QUIET_LIMITS, sendsPerNumber: { max: 1, windowSeconds: 600, monitor: true }, sendsPerIp: { max: 2, windowSeconds: 600 } } });
    const range = freshRange();
    await kit.otp.sendSms(mobile(range, 3), { ip: '198.51.100.4' });
    await kit.otp.sendSms(mobile(range, 3), { ip: '198.51.100.4' });
    assert.equal((await errorOf(() => kit.otp.sendSms(mobile(range, 4), { ip: '198.51.100.4' }))).code, 'RATE_LIMITED', 'sendsPerIp is not watched: it refuses');
    assert.deepEqual(
      kit.eventsNamed('limit-hit').map((h) => [h.limit, h.monitored ?? false]),
      [['sendsPerNumber', true], ['sendsPerIp', false]],
    );
  });

  it('destination policy in monitor mode: a premium-rate number gets a real send and a send-refused with monitored: true', async () => {
    const kit = await fraudKit(db(), { limits: { ...QUIET_LIMITS, monitor: ['destinations'] } });
    const result = await kit.otp.sendSms(BLOCKED_SAMPLES.PREMIUM_RATE);
    assert.equal(result.provider, 'Recorder');
    assert.equal(kit.sendsTo(BLOCKED_SAMPLES.PREMIUM_RATE), 1);
    const refused = kit.eventsNamed('send-refused');
    assert.equal(refused.length, 1);
    assert.equal(refused[0]?.reason, 'number-type');
    assert.equal(refused[0]?.monitored, true);
    const enforcing = await fraudKit(db(), { limits: QUIET_LIMITS });
    await enforcing.otp.sendSms(BLOCKED_SAMPLES.PREMIUM_RATE);
    assert.equal(enforcing.sendsTo(BLOCKED_SAMPLES.PREMIUM_RATE), 0, 'without monitor mode it is a decoy');
    assert.equal(enforcing.eventsNamed('send-refused')[0]?.monitored, undefined);
  });

  it('the breaker in monitor mode records its hold but the range keeps sending, each send to it one monitored event', async () => {
    const breaker = { minSends: 4, minRatio: 0.5, checkEvery: 2, holdSeconds: 60, hiddenDigits: 4, windowSeconds: 3600 };
    const kit = await fraudKit(db(), { limits: { ...QUIET_LIMITS, monitor: ['conversionBreaker'], conversionBreaker: breaker } });
    const range = freshRange();
    for (let i = 0; i < 9; i += 1) await kit.otp.sendSms(mobile(range, i));
    assert.equal(kit.sends.length, 9, 'nothing refused');
    const held = kit.eventsNamed('range-held');
    assert.ok(held.length >= 1 && held.every((h) => h.monitored === true));
    const hits = kit.eventsNamed('limit-hit');
    assert.equal(hits.length, 3, 'sends 7, 8 and 9 went to a held range');
    assert.ok(hits.every((h) => h.limit === 'conversionBreaker' && h.monitored === true));
    const holds = await kit.otp.holds();
    assert.equal(holds[0]?.reason.startsWith('conversionBreaker (monitored)'), true);
  });

  it('verify limits in monitor mode: verifiesPerIp reports and lets the guess through; otpMetrics counts monitored hits apart', async () => {
    const kit = await fraudKit(db(), { limits: { ...QUIET_LIMITS, verifiesPerIp: { max: 1, windowSeconds: 600, monitor: true } } });
    const metrics = otpMetrics(kit.otp, { registry: new Registry() });
    const phone = mobile(freshRange(), 5);
    await kit.otp.sendSms(phone);
    const wrong = await kit.otp.verify(phone, '000000' === kit.codeFor(phone) ? '111111' : '000000', { ip: '192.0.2.1' });
    assert.equal(wrong.codeValid, false);
    const right = await kit.otp.verify(phone, kit.codeFor(phone), { ip: '192.0.2.1' });
    assert.equal(right.codeValid, true, 'the second verify from the IP would have been refused');
    assert.deepEqual(kit.eventsNamed('limit-hit').map((h) => [h.limit, h.monitored]), [['verifiesPerIp', true]]);
    const text = await metrics.registry.metrics();
    assert.match(text, /otp_monitored_hits_total\{limit="verifiesPerIp"\} 1/);
    assert.doesNotMatch(text, /otp_limit_hits_total\{limit="verifiesPerIp"\}/);
    metrics.stop();
  });

  it('monitored refusals are otp.limit_monitored webhooks when the webhooks option names that type (opt-in)', async () => {
    const secret = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
    const limits = { ...QUIET_LIMITS, monitor: true, sendsPerNumber: { max: 1, windowSeconds: 600 } };
    const table = 'otp_webhooks';
    await db().knex.schema.hasTable(table).then(async (has) => (has ? db().knex(table).del() : undefined));
    const silent = await fraudKit(db(), { limits, webhooks: { url: 'http://127.0.0.1:9/hook', secret } });
    const quiet = mobile(freshRange(), 1);
    await silent.otp.sendSms(quiet);
    await silent.otp.sendSms(quiet);
    assert.equal(silent.eventsNamed('limit-hit').length, 1);
    const kit = await fraudKit(db(), { limits, webhooks: { url: 'http://127.0.0.1:9/hook', secret, events: ['otp.limit_monitored', 'otp.sent'] } });
    const phone = mobile(freshRange(), 2);
    for (let i = 0; i < 3; i += 1) await kit.otp.sendSms(phone);
    await kit.otp.sendSms(BLOCKED_SAMPLES.PREMIUM_RATE);
    const deadline = Date.now() + 5000;
    let rows: { body: string }[] = [];
    while (Date.now() < deadline) {
      rows = await db().knex(table).where('event_type', 'otp.limit_monitored').select<{ body: string }[]>('body');
      if (rows.length >= 3) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const bodies = rows.map((r) => JSON.parse(r.body) as { data: Record<string, unknown> });
    assert.deepEqual(bodies.map((b) => b.data.limit).sort(), ['destinations', 'sendsPerNumber', 'sendsPerNumber'], 'only the second instance subscribed: 2 limit hits and 1 destination');
    assert.ok(bodies.every((b) => b.data.monitored === 'true' && b.data.channel === 'sms'));
    assert.ok(!rows.some((r) => r.body.includes(phone) || r.body.includes(BLOCKED_SAMPLES.PREMIUM_RATE)), 'numbers masked');
  });
});
