/**
 * Slotted counter rows (migration 0013): a send's per-number counters share one row `n:<number>`.
 * Each slot counts, refuses, gives back, blocks and resets on its own, in one statement with the
 * other counters of a request and with concurrent requests (group commit and without it); the
 * row's own `expire` is the latest end of its slots, so the sweep keeps it while any slot lives.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createCounterStore, type CounterStore } from '../../lib/storage/counter-store.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';

forEachDatabase('counter slots', (db, kind) => {
  type Subject = { batching: boolean; store: CounterStore; table: string };
  // Batched (group commit), alone, and on MariaDB also MySQL's way (the upsert, then a SELECT: no RETURNING).
  const stores = async (): Promise<[Subject, ...Subject[]]> => {
    const kit = await createTestKit(db());
    const table = kit.otp.config.tables.limits;
    await db().knex(table).del();
    const of = (batching: boolean, returning?: false): Subject => ({ batching, store: createCounterStore(db().knex, table, { batching, ...(returning === false ? { returning } : {}) }), table });
    return kind === 'mysql' ? [of(true), of(false), of(true, false)] : [of(true), of(false)];
  };

  it('three counters of one key in one row: each counts and refuses on its own, in one statement with a plain counter', async () => {
    for (const [i, { batching, store, table }] of (await stores()).entries()) {
      const key = `+35987111000${i + 5}`;
      const cooldown = store.counter('n', 1, 60, 1);
      const gap = store.counter('n', 1, 30, 2);
      const perNumber = store.counter('n', 3, 600, 3);
      const perIp = store.counter('si', 2, 300);
      const take = (): Promise<Array<{ allowed: boolean; consumed: number }>> => store.takeAll([{ counter: perIp, key: 'ip' + key }, { counter: cooldown, key }, { counter: gap, key }, { counter: perNumber, key }]);
      assert.deepEqual((await take()).map((r) => [r.allowed, r.consumed]), [[true, 1], [true, 1], [true, 1], [true, 1]], `batching ${batching}`);
      const second = await take();
      assert.deepEqual(second.map((r) => [r.allowed, r.consumed]), [[true, 2], [false, 2], [false, 2], [true, 2]]);
      const refused = second[1] as { msLeft?: number };
      assert.ok(refused.msLeft !== undefined && refused.msLeft > 50_000 && refused.msLeft <= 60_000, `the cooldown's own window: ${String(refused.msLeft)}`);
      const rows: Array<Record<string, unknown>> = await db().knex(table).where('key', 'like', `%${key}`).orderBy('key').select();
      assert.deepEqual(rows.map((r) => r.key), [`n:${key}`, `si:ip${key}`], 'one row for the three counters of the number');
      const row = rows[0] as Record<string, unknown>;
      assert.deepEqual([row.points, row.points_1, row.points_2, row.points_3].map(Number), [0, 2, 2, 2]);
      // The row's own expiry is never before a slot's end (the sweep reads it); a later take may push it on.
      assert.ok(Number(row.expire) >= Number(row.expire_3) && Number(row.expire) - Number(row.expire_3) < 5_000, "the row's own expiry is its latest slot's");
      assert.ok(Number(row.expire_1) < Number(row.expire_3) && Number(row.expire_2) < Number(row.expire_1));

      // Give back the refused units: only those slots change; the windows stay.
      await store.giveBack([{ counter: cooldown, key }, { counter: gap, key }]);
      assert.deepEqual(await Promise.all([cooldown.peek(key), perNumber.peek(key)]).then((s) => s.map((x) => x?.consumed)), [1, 2]);
      // Reset one slot: the others keep counting.
      await gap.reset(key);
      assert.equal(await gap.peek(key), undefined);
      assert.equal((await perNumber.peek(key))?.consumed, 2);
      assert.equal((await store.takeAll([{ counter: gap, key }]))[0]?.allowed, true, 'the reset slot starts a new window');
      // A block on a slot holds that slot only, and the row lives at least as long.
      await perNumber.block(key, 7_200);
      const blocked = await perNumber.peek(key);
      assert.ok(blocked !== undefined && blocked.consumed === 4 && blocked.msLeft > 7_000_000);
      assert.equal((await cooldown.peek(key))?.consumed, 1);
      const after = (await db().knex(table).where('key', `n:${key}`).first()) as Record<string, unknown>;
      assert.ok(Number(after.expire) >= Number(after.expire_3));
    }
  });

  it('many requests at once on one slot: exactly max are allowed, each sees its own place; the other slots are untouched', async () => {
    const [{ store, table }] = await stores();
    const key = '+359871110003';
    const perNumber = store.counter('n', 5, 600, 3);
    const cooldown = store.counter('n', 1, 60, 1);
    const results = (await Promise.all(Array.from({ length: 20 }, () => store.takeAll([{ counter: perNumber, key }])))).map((r) => r[0]);
    assert.equal(results.filter((r) => r?.allowed === true).length, 5);
    assert.deepEqual(results.map((r) => r?.consumed).sort((a, b) => (a ?? 0) - (b ?? 0)), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.equal(await cooldown.peek(key), undefined);
    const row = (await db().knex(table).where('key', `n:${key}`).first()) as Record<string, unknown>;
    // An untouched slot is an ended window (0, not NULL: later takes update the row in place).
    assert.deepEqual([Number(row.points_1), Number(row.expire_1)], [0, 0]);
  });

  it('a slot whose window ended starts a new one; the sweep deletes the row only once every slot ended an hour ago', async () => {
    const [{ store, table }] = await stores();
    const key = '+359871110004';
    const cooldown = store.counter('n', 1, 60, 1);
    const perNumber = store.counter('n', 5, 600, 3);
    await store.takeAll([{ counter: cooldown, key }, { counter: perNumber, key }]);
    const wall = Date.now();
    // The cooldown ended long ago, sends per number still live: the cooldown allows again, the cap keeps counting.
    await db().knex(table).where('key', `n:${key}`).update({ expire_1: wall - 1 });
    const again = await store.takeAll([{ counter: cooldown, key }, { counter: perNumber, key }]);
    assert.deepEqual(again.map((r) => [r.allowed, r.consumed]), [[true, 1], [true, 2]]);
    await db().knex(table).where('key', `n:${key}`).update({ expire_1: wall - 7_200_000, expire: wall + 600_000 });
    assert.equal(await store.sweep(wall), 0, 'a live slot keeps the row');
    await db().knex(table).where('key', `n:${key}`).update({ expire_3: wall - 7_200_000, expire: wall - 7_200_000 });
    assert.equal(await store.sweep(wall), 1);
  });

  it('a counter name is either slotted or plain', async () => {
    const [{ store }] = await stores();
    store.counter('n', 1, 60, 1);
    assert.throws(() => store.counter('n', 1, 60), /both with and without a slot/);
  });
});
