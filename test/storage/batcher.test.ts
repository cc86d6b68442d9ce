import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBatcher, isRetryableConflict, retryConflicts } from '../../lib/storage/batcher.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('group-commit batcher', () => {
  it('writes the items of one tick as one batch and answers each caller its own result, in order', async () => {
    const batches: number[][] = [];
    const batcher = createBatcher(async (items: readonly number[]) => {
      batches.push([...items]);
      return items.map((n) => n * 10);
    }, { maxBatch: 100 });
    const answers = await Promise.all([1, 2, 3, 4, 5].map((n) => batcher.add(n)));
    assert.deepEqual(answers, [10, 20, 30, 40, 50]);
    assert.deepEqual(batches, [[1, 2, 3, 4, 5]]);
  });

  it('alone, an item is written at once in a batch of one (no added delay)', async () => {
    let runs = 0;
    const batcher = createBatcher(async (items: readonly string[]) => {
      runs += 1;
      return items;
    }, { maxBatch: 10 });
    assert.equal(await batcher.add('a'), 'a');
    assert.equal(await batcher.add('b'), 'b');
    assert.equal(runs, 2);
  });

  it('splits at maxBatch, keeps at most maxInFlight batches running, and queues what arrives meanwhile for the next batch', async () => {
    const sizes: number[] = [];
    let running = 0;
    let mostRunning = 0;
    const release: Array<() => void> = [];
    const batcher = createBatcher(async (items: readonly number[]) => {
      running += 1;
      mostRunning = Math.max(mostRunning, running);
      sizes.push(items.length);
      await new Promise<void>((resolve) => release.push(resolve));
      running -= 1;
      return items;
    }, { maxBatch: 3, maxInFlight: 1 });
    const first = [1, 2, 3, 4, 5].map((n) => batcher.add(n));
    await tick();
    assert.deepEqual(sizes, [3], 'one batch of 3 runs; the other 2 wait');
    const later = [6, 7].map((n) => batcher.add(n));
    for (let round = 0; round < 3; round += 1) {
      release.shift()?.();
      await tick();
      await tick();
    }
    assert.deepEqual(await Promise.all([...first, ...later]), [1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(sizes, [3, 3, 1], 'the waiting items and the late ones share the next batches');
    assert.equal(mostRunning, 1);
  });

  it('never splits a unit of addAll between batches, unless the unit alone exceeds maxBatch', async () => {
    const batches: string[][] = [];
    const batcher = createBatcher(async (items: readonly string[]) => {
      batches.push([...items]);
      return items.map((s) => s.toUpperCase());
    }, { maxBatch: 4 });
    // Three units of 3 (as three sends' counter takes) and a lone item; 4 a batch.
    const units = [['a', 'b', 'c'], ['d', 'e', 'f'], ['g', 'h', 'i']].map((u) => batcher.addAll(u));
    const lone = batcher.add('z');
    assert.deepEqual(await Promise.all(units), [['A', 'B', 'C'], ['D', 'E', 'F'], ['G', 'H', 'I']]);
    assert.equal(await lone, 'Z');
    assert.deepEqual(batches, [['a', 'b', 'c'], ['d', 'e', 'f'], ['g', 'h', 'i', 'z']], 'each batch ends at the end of a unit');

    batches.length = 0;
    const big = batcher.addAll(['p', 'q', 'r', 's', 't', 'u']);
    assert.deepEqual(await big, ['P', 'Q', 'R', 'S', 'T', 'U']);
    assert.deepEqual(batches, [['p', 'q', 'r', 's'], ['t', 'u']], 'a unit larger than maxBatch is split at maxBatch');
    assert.deepEqual(await batcher.addAll([]), [], 'an empty unit queues nothing');
  });

  it('runs the items of a failed batch again one by one: a bad item fails alone, its neighbours are written (audit 19.2)', async () => {
    const sizes: number[] = [];
    const batcher = createBatcher(async (items: readonly number[]) => {
      sizes.push(items.length);
      if (items.includes(2)) throw new Error('value too long, say');
      return items;
    }, { maxBatch: 10 });
    const settled = await Promise.allSettled([batcher.add(1), batcher.add(2), batcher.add(3)]);
    assert.deepEqual(settled.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.match(String((settled[1] as PromiseRejectedResult).reason), /value too long, say/);
    assert.deepEqual(sizes, [3, 1, 1, 1], 'one batch, then each item alone');
    assert.equal(await batcher.add(4), 4, 'the next batch runs normally');
    await batcher.drain();
  });

  it('a unit of addAll fails with its bad item; the other units of the failed batch are written', async () => {
    const written: number[] = [];
    const batcher = createBatcher(async (items: readonly number[]) => {
      if (items.includes(2)) throw new Error('value too long, say');
      written.push(...items);
      return items.map((n) => n * 10);
    }, { maxBatch: 10 });
    const [bad, good] = await Promise.allSettled([batcher.addAll([1, 2, 3]), batcher.addAll([4, 5])]);
    assert.equal(bad?.status, 'rejected');
    assert.match(String(bad.reason), /value too long, say/);
    assert.deepEqual((good as PromiseFulfilledResult<number[]>).value, [40, 50]);
    await batcher.drain();
    assert.deepEqual([...written].sort(), [1, 3, 4, 5], 'every item but the bad one was written, each alone');
  });

  it('a unit split over two batches (larger than maxBatch) answers once both are written, in order', async () => {
    const batcher = createBatcher(async (items: readonly number[]) => {
      await new Promise((resolve) => setTimeout(resolve, items.length));
      return items.map((n) => -n);
    }, { maxBatch: 2, maxInFlight: 2 });
    assert.deepEqual(await batcher.addAll([1, 2, 3, 4, 5]), [-1, -2, -3, -4, -5]);
  });

  it('refuses a batch that answers the wrong number of results', async () => {
    const batcher = createBatcher(async (items: readonly number[]) => items.slice(1), { maxBatch: 10 });
    await assert.rejects(Promise.all([batcher.add(1), batcher.add(2)]), /0 results for 1 item/);
  });

  it('drain() waits for queued and running batches', async () => {
    const written: number[] = [];
    const batcher = createBatcher(async (items: readonly number[]) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      written.push(...items);
      return items;
    }, { maxBatch: 2 });
    for (const n of [1, 2, 3]) void batcher.add(n);
    await batcher.drain();
    assert.deepEqual(written, [1, 2, 3]);
    await batcher.drain();
  });

  it('runs a statement again after a deadlock or serialization failure, and only then', async () => {
    const deadlock = Object.assign(new Error('Deadlock found'), { errno: 1213 });
    const pgDeadlock = Object.assign(new Error('deadlock detected'), { code: '40P01' });
    assert.equal(isRetryableConflict(deadlock), true);
    assert.equal(isRetryableConflict(pgDeadlock), true);
    assert.equal(isRetryableConflict(Object.assign(new Error('dup'), { errno: 1062 })), false);
    assert.equal(isRetryableConflict(null), false);
    let tries = 0;
    assert.equal(await retryConflicts(async () => {
      tries += 1;
      if (tries < 3) throw deadlock;
      return 'done';
    }), 'done');
    assert.equal(tries, 3);
    tries = 0;
    await assert.rejects(retryConflicts(async () => {
      tries += 1;
      throw deadlock;
    }, 2), /Deadlock found/);
    assert.equal(tries, 3, 'the first run and two more');
    tries = 0;
    await assert.rejects(retryConflicts(async () => {
      tries += 1;
      throw new Error('syntax');
    }), /syntax/);
    assert.equal(tries, 1);
  });
});
