/** Request ids are RFC 9562 UUID version 7: the time first (so they sort by creation), then random bits. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';
import { uuidV7 } from '../../lib/core/request-id.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

it('has the version and variant bits and the millisecond timestamp of RFC 9562, section 5.7', () => {
  const id = uuidV7(0x017f22e279b0, Buffer.alloc(10, 0xff));
  assert.equal(id, '017f22e2-79b0-7fff-bfff-ffffffffffff');
  assert.match(uuidV7(Date.now(), randomBytes(10)), V7);
  assert.throws(() => uuidV7(Date.now(), Buffer.alloc(9)), RangeError);
});

it('sorts by creation time, and ids of the same millisecond differ', () => {
  const ids = [1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000].map((t) => uuidV7(t, randomBytes(10)));
  assert.deepEqual([...ids].sort(), ids);
  const same = new Set(Array.from({ length: 1000 }, () => uuidV7(1_700_000_000_000, randomBytes(10))));
  assert.equal(same.size, 1000);
});
