/**
 * Audit 19.5: a refused destination must not be recognisable. Its decoy answer fixes `expiresAt`
 * where a real send does (before the provider call), and it meets the same per-range limits, so 22
 * sends into a blocked range see the 429 a real range shows after 20. Its unit of the global daily
 * budget is still given back (junk cannot spend it).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createOtp } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { silentLogger } from '../../lib/logger.js';
import { TEST_SECRET } from '../helpers/kit.js';
import { recordingProvider } from './helpers/attack-app.js';
import { onAttackDatabases, postSend, attackAppStarter } from './helpers/attack-app.js';
import { freshRange, mobile } from './helpers/numbers.js';

const TTL = 300;

forEachDatabase('audit 19.5: decoy expiry', (db) => {
  it('expiresAt minus the TTL is as close to the request for a decoy as for a real send (provider latency 150 ms)', async () => {
    const otp = createOtp({
      db: db().knex, secret: TEST_SECRET, providers: ['Recorder'], customProviders: [recordingProvider([], 150)], logger: silentLogger, env: {},
      ttlSeconds: TTL, destinations: { deny: ['FR'] }, limits: { sendsPerIp: { max: 1000, windowSeconds: 300 } },
    });
    await otp.migrate();
    const lead = async (phone: string): Promise<number> => {
      const t0 = Date.now();
      const sent = await otp.sendSms(phone, { ip: '203.0.113.9' });
      return sent.expiresAt.getTime() - TTL * 1000 - t0;
    };
    const real = [await lead('+4915112340001'), await lead('+4915112340002')];
    const decoys = [await lead('+33612345601'), await lead('+33612345602')];
    for (const ms of [...real, ...decoys]) assert.ok(ms < 100, `expiresAt − TTL lies ${ms} ms after the request (real ${real.join(', ')}; decoys ${decoys.join(', ')})`);
  });
});

onAttackDatabases('audit 19.5: decoy limits over HTTP', (db) => {
  const start = attackAppStarter(db);
  it('22 sends into a blocked range answer 202 twenty times, then 429, exactly like a real range', async () => {
    const limits = { sendsPerPrefix: { max: 20, windowSeconds: 3600, hiddenDigits: 4 }, sendsPerIp: { max: 1000, windowSeconds: 300 }, dailySendBudget: 100 };
    const app = await start({ destinations: { deny: ['DE'] }, limits });
    const statuses = async (target: typeof app, range: number): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < 22; i += 1) out.push((await postSend(target, mobile(range, i))).status);
      return out;
    };
    const blocked = await statuses(app, freshRange());
    const expected = [...Array<number>(20).fill(202), 429, 429];
    assert.deepEqual(blocked, expected, 'a denied country (DE) range');
    assert.equal(app.sends.length, 0, 'nothing was sent to the blocked range');
    const other = await start({ destinations: {}, limits }, { keepCounters: true });
    assert.deepEqual(await statuses(other, freshRange()), expected, 'a real range');
    assert.equal(other.sends.length, 20);
  });
});
