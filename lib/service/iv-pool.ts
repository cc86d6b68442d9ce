/**
 * IVs for sealing codes and the random bits of request ids, from a pool of CSPRNG bytes refilled
 * 4 kB at a time: one `randomBytes` call per seal cost more than the AES itself. Both are public,
 * so holding the next ones in memory reveals nothing; each is handed out once. Kept out of
 * lib/core/ so that stays pure.
 */
import { randomFillSync } from 'node:crypto';
import { IV_BYTES } from '../core/code.js';
import { uuidV7 } from '../core/request-id.js';

const pool = Buffer.alloc(IV_BYTES * 341);
let offset = pool.length;

/** `n` (at most 16) fresh random bytes, each handed out once. */
function take(n: number): Buffer {
  if (offset + n > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  // A copy: the pool is overwritten on the next refill.
  const bytes = Buffer.from(pool.subarray(offset, offset + n));
  offset += n;
  return bytes;
}

export function nextIv(): Buffer {
  return take(IV_BYTES);
}

/** A new request id (UUID v7, lib/core/request-id.ts) at `nowMs`, with random bits from the pool. */
export function newRequestId(nowMs: number): string {
  return uuidV7(nowMs, take(10));
}
