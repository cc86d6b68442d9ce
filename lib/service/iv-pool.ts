/**
 * IVs for sealing codes, from a pool of CSPRNG bytes refilled 4 kB at a time: one `randomBytes`
 * call per seal cost more than the AES itself. An IV is public, so holding the next ones in memory
 * reveals nothing; each is handed out once. Kept out of lib/core/ so that stays pure.
 */
import { randomFillSync } from 'node:crypto';
import { IV_BYTES } from '../core/code.js';

const pool = Buffer.alloc(IV_BYTES * 341);
let offset = pool.length;

export function nextIv(): Buffer {
  if (offset + IV_BYTES > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  // A copy: the pool is overwritten on the next refill.
  const iv = Buffer.from(pool.subarray(offset, offset + IV_BYTES));
  offset += IV_BYTES;
  return iv;
}
