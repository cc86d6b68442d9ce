/**
 * Destination controls and enumeration over HTTP: refused countries and number types get the same
 * answer as any number (status, body shape, headers, length, and the same 429 pattern), with no
 * row written and no provider call; decoys take as long as real sends.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { it } from 'node:test';
import type { Response } from 'supertest';
import { onAttackDatabases, postSend, requestRows, attackAppStarter } from './helpers/attack-app.js';
import { BLOCKED_SAMPLES, freshMobile } from './helpers/numbers.js';

/** A UUID version 7 (time-ordered), as every request id is: a decoy's too. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** Headers that differ between any two responses (time, per-response hash). */
const VARYING = new Set(['date', 'etag']);

/** What a client can observe of a send answer, minus the values that differ on every answer anyway. */
function shape(res: Response): unknown {
  const body = res.body as Record<string, unknown>;
  return {
    status: res.status,
    headers: Object.keys(res.headers).filter((h) => !VARYING.has(h)).sort().map((h) => [h, h === 'content-length' ? res.headers[h] : h === 'retry-after' ? 'n' : res.headers[h]]),
    keys: Object.keys(body).sort(),
    requestId: typeof body.requestId === 'string' && UUID.test(body.requestId),
    channel: body.channel,
    status202: body.status,
    expiresAt: typeof body.expiresAt === 'string' && !Number.isNaN(Date.parse(body.expiresAt)),
    error: body.error === undefined ? undefined : { ...(body.error as object), retryAfter: 'n' },
  };
}

onAttackDatabases('attack: destinations and enumeration over HTTP', (db) => {
  const start = attackAppStarter(db);

  it('#15 known, unknown, blocked-country and blocked-type numbers get an identical answer (status, body, headers, length) and the same 429 after it', async () => {
    const app = await start({ destinations: { deny: ['FR'] } });
    const known = freshMobile();
    await postSend(app, known).expect(202);
    // Let the known number's cooldown pass without waiting: the counters are what make it "known".
    await app.db.knex(app.otp.config.tables.limits).del();
    const numbers = { known, unknown: freshMobile(), blockedCountry: '+33612345678', blockedType: BLOCKED_SAMPLES.PREMIUM_RATE };
    const callsBefore = app.sends.length;

    const first = new Map<string, unknown>();
    const second = new Map<string, unknown>();
    for (const [label, phone] of Object.entries(numbers)) first.set(label, shape(await postSend(app, phone)));
    for (const [label, phone] of Object.entries(numbers)) second.set(label, shape(await postSend(app, phone)));

    assert.deepEqual((first.get('known') as { status: number }).status, 202);
    for (const label of Object.keys(numbers)) {
      assert.deepEqual(first.get(label), first.get('known'), `first answer for ${label}`);
      assert.deepEqual(second.get(label), second.get('known'), `429 answer for ${label}`);
    }
    assert.equal((second.get('known') as { status: number }).status, 429);
    // Only the two real numbers reached the provider; the refused ones left no row either.
    assert.deepEqual(app.sends.slice(callsBefore).map((s) => s.phone), [numbers.known, numbers.unknown]);
    assert.equal((await requestRows(app, numbers.blockedCountry)).length, 0);
    assert.equal((await requestRows(app, numbers.blockedType)).length, 0);
  });

  it('#24 country allow-list, per channel: numbers outside the list get the generic 202, no row and no provider call', async () => {
    const app = await start({ destinations: { sms: { allow: ['BG'] }, call: { allow: ['GB'] } } });
    const german = freshMobile();
    const refusedSms = await postSend(app, german);
    assert.equal(refusedSms.status, 202);
    assert.match(refusedSms.body.requestId as string, UUID);
    assert.equal(refusedSms.body.status, 'sent');
    const refusedCall = await postSend(app, '+359871234567', { channel: 'call' });
    assert.equal(refusedCall.status, 202);
    assert.equal(refusedCall.body.channel, 'call');
    assert.equal(app.sends.length, 0);
    assert.equal((await requestRows(app, german)).length, 0);
    assert.equal((await requestRows(app, '+359871234567')).length, 0);

    await postSend(app, '+359881000002').expect(202);
    await postSend(app, '+447712345678', { channel: 'call' }).expect(202);
    assert.deepEqual(app.sends.map((s) => [s.phone, s.channel]), [['+359881000002', 'sms'], ['+447712345678', 'call']]);
    assert.deepEqual(
      app.eventsNamed('send-refused').map((e) => [e.reason, e.channel, e.country]),
      [['country-not-allowed', 'sms', 'DE'], ['country-not-allowed', 'call', 'BG']],
    );
    // The refused numbers are masked in events and logs.
    assert.ok(app.events.every((e) => !JSON.stringify(e.payload).includes(german.slice(1))));
    assert.ok(app.logs.every((line) => !line.includes(german.slice(1))));
  });

  it('#25 premium-rate, shared-cost, toll-free, VoIP, pager and voicemail numbers and non-geographic networks are refused: 202, no row, no provider call', async () => {
    const app = await start();
    const samples = { ...BLOCKED_SAMPLES, SATELLITE: '+870773111632' };
    for (const [type, phone] of Object.entries(samples)) {
      const res = await postSend(app, phone);
      assert.equal(res.status, 202, type);
      assert.match(res.body.requestId as string, UUID, type);
      assert.equal((await requestRows(app, phone)).length, 0, type);
    }
    assert.equal(app.sends.length, 0);
    assert.deepEqual(
      app.eventsNamed('send-refused').map((e) => e.type ?? e.reason),
      ['PREMIUM_RATE', 'SHARED_COST', 'TOLL_FREE', 'VOIP', 'PAGER', 'VOICEMAIL', 'MOBILE'],
    );
    assert.equal(app.eventsNamed('send-refused').at(-1)?.reason, 'non-geographic');
  });

  it('#25 refused destinations never spend the global daily budget', async () => {
    const app = await start({ limits: { dailySendBudget: 2 } });
    for (const phone of Object.values(BLOCKED_SAMPLES)) await postSend(app, phone).expect(202);
    await postSend(app, freshMobile()).expect(202);
    await postSend(app, freshMobile()).expect(202);
    assert.equal((await postSend(app, freshMobile())).status, 429);
    assert.equal(app.sends.length, 2);
  });

  it('#15 timing class: a refused destination answers in about the time of a real send (provider latency 150 ms)', async () => {
    const app = await start({}, { providerDelayMs: 150 });
    const timed = async (phone: string): Promise<number> => {
      const t0 = performance.now();
      await postSend(app, phone).expect(202);
      return performance.now() - t0;
    };
    const real: number[] = [];
    for (let i = 0; i < 4; i += 1) real.push(await timed(freshMobile()));
    const decoys: number[] = [];
    for (const phone of Object.values(BLOCKED_SAMPLES)) decoys.push(await timed(phone));
    assert.equal(app.sends.length, 4);
    assert.ok(Math.min(...real) >= 150, `real sends ${real.map(Math.round).join(', ')} ms`);
    // Each decoy waits the duration of one recent real send (≥ 150 ms), never far more.
    for (const ms of decoys) assert.ok(ms >= 140 && ms < 2000, `decoy ${Math.round(ms)} ms; real ${real.map(Math.round).join(', ')} ms`);
  });
});
