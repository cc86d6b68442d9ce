/**
 * Issue 23.5: `otp.forget(phone)` erases every counter row keyed by the number, whichever limit
 * made it (the channel-switch counter `sw:<number>` was left behind). Every limit is listed once
 * in lib/limits/keys.ts (`COUNTER_KEYS`, typed over every counter name); forget iterates that
 * registry, and this test enumerates it: a new limit cannot be added without forget erasing it.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { COUNTER_KEYS, type CounterName } from '../../lib/limits/keys.js';
import { createCounterSet } from '../../lib/limits/counters.js';
import { internalsOf } from '../../lib/service/internals.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';

const NAMES = Object.keys(COUNTER_KEYS) as CounterName[];
const ALL_LIMITS = { sendsPerCountry: { max: 1000, windowSeconds: 3600 } } as const;

forEachDatabase('forget erases every counter keyed by the number', (db) => {
  const limitKeys = async (): Promise<string[]> => {
    const rows: Array<Record<string, unknown>> = await db().knex('otp_limits').select('key');
    return rows.map((r) => String(r.key));
  };

  it('after a send, a channel switch and a wrong-code lock, no counter row of the number is left', async () => {
    // A 1 s switch cooldown: since audit 23.3 a direct send takes the switch counter too (wall clock).
    const kit = await createTestKit(db(), { limits: { ...ALL_LIMITS, channelSwitchCooldownSeconds: 1, verifyLock: { failures: 2 } } });
    const phone = '+359871230501';
    await kit.otp.sendSms(phone, { ip: '198.51.100.9' });
    kit.clock.advance(61_000);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    await kit.otp.resend(phone, 'call', { ip: '198.51.100.9' });
    for (const wrong of ['000000', '000001']) await kit.otp.verify(phone, wrong, { ip: '198.51.100.9' });
    const before = await limitKeys();
    // Every number-keyed limit of the registry made its row (the flows above cover them all).
    for (const [name, entry] of Object.entries(COUNTER_KEYS)) {
      if (entry.keyedBy === 'number') assert.ok(before.includes(`${entry.store}:${phone}`), `${name} (${entry.store}) made no row: extend this test's flows`);
    }
    await kit.otp.forget(phone);
    const left = (await limitKeys()).filter((key) => key.includes(phone.slice(1)));
    assert.deepEqual(left, [], 'no counter row keyed by the number is left');
  });

  it('every registered limit: a row keyed by the number is erased by forget', async () => {
    const kit = await createTestKit(db(), { limits: ALL_LIMITS });
    const deps = internalsOf(kit.otp);
    const set = createCounterSet(db().knex, { limits: deps.config.limits, tables: deps.config.tables, logger: deps.config.logger, batching: false }, deps.events);
    const phone = '+359871230502';
    for (const name of NAMES) {
      const counter = set.counters[name];
      assert.ok(counter !== undefined, `${name} is switched on in this test`);
      assert.equal(counter.name, COUNTER_KEYS[name].store, `${name} stores under its registered prefix`);
      await counter.add(phone);
    }
    // The per-number send counters share one row (slots, migration 0013): one row per store.
    const rows = new Set(NAMES.map((name) => COUNTER_KEYS[name].store)).size;
    assert.equal((await limitKeys()).filter((key) => key.endsWith(`:${phone}`)).length, rows);
    // Rows the per-number counters wrote before migration 0013 are the number's data too.
    await db().knex('otp_limits').insert(['sc', 'sw', 'sn'].map((store) => ({ key: `${store}:${phone}`, points: 1, expire: Date.now() + 60_000 })));
    const result = await kit.otp.forget(phone);
    assert.equal(result.limits, rows + 3);
    assert.deepEqual((await limitKeys()).filter((key) => key.includes(phone.slice(1))), []);
  });
});
