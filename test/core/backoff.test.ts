import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_BACKOFF, retryDelayMs } from '../../lib/core/backoff.js';

describe('retryDelayMs', () => {
  it('starts at 0.5 s and doubles (no jitter)', () => {
    const opts = { ...DEFAULT_BACKOFF, jitter: 0 };
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, opts, () => 0)), [500, 1000, 2000, 4000, 8000]);
  });
  it('is capped, and jitter stays within [half, full] of the raw delay', () => {
    assert.equal(retryDelayMs(30, { ...DEFAULT_BACKOFF, jitter: 0 }, () => 0), 60_000);
    assert.equal(retryDelayMs(3, DEFAULT_BACKOFF, () => 0), 1000);
    assert.equal(retryDelayMs(3, DEFAULT_BACKOFF, () => 0.999999), 2000);
  });
});
