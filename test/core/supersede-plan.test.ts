/** When a new request supersedes the number's older ones (lib/core/supersede-plan.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INSERT_BOUND_MS, recordKeepMs, supersedePlan } from '../../lib/core/supersede-plan.js';

const keepMs = recordKeepMs(300);
const facts = (sinceMs: number | null | undefined, insertMs = 10) => ({
  made: sinceMs === undefined ? undefined : { sinceMs },
  keepMs,
  takeSentAt: 1_000,
  takeAnsweredAt: 1_005,
  insertedAt: 1_000 + insertMs,
});

describe('supersede plan', () => {
  it('a record counts for a request lifetime plus five minutes', () => {
    assert.equal(recordKeepMs(300), 600_000);
  });

  it('skips when no request was recorded for the number within that time and the insert was quick', () => {
    assert.deepEqual(supersedePlan(facts(null)), { kind: 'skip' });
    assert.deepEqual(supersedePlan(facts(keepMs + 1)), { kind: 'skip' });
    assert.deepEqual(supersedePlan(facts(null, INSERT_BOUND_MS)), { kind: 'skip' });
  });

  it('supersedes at once when the insert came later than the bound after the take (another send may have counted on it)', () => {
    assert.deepEqual(supersedePlan(facts(null, INSERT_BOUND_MS + 1)), { kind: 'now' });
  });

  it('supersedes at once when the record before is within a lifetime but older than the bound', () => {
    assert.deepEqual(supersedePlan(facts(keepMs)), { kind: 'now' });
    assert.deepEqual(supersedePlan(facts(INSERT_BOUND_MS + 1)), { kind: 'now' });
  });

  it('waits for a request recorded just before to land, then supersedes (until its take plus the bound)', () => {
    assert.deepEqual(supersedePlan(facts(0)), { kind: 'after', at: 1_005 + INSERT_BOUND_MS });
    assert.deepEqual(supersedePlan(facts(100)), { kind: 'after', at: 1_005 + INSERT_BOUND_MS - 100 });
    assert.deepEqual(supersedePlan(facts(INSERT_BOUND_MS)), { kind: 'after', at: 1_005 });
  });

  it('supersedes at once when the record cannot be read with the take (MySQL without RETURNING)', () => {
    assert.deepEqual(supersedePlan(facts(undefined)), { kind: 'now' });
  });
});
