import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergePhases } from '../../bench/app-session.js';
import type { DbWork } from '../../bench/db-work.js';
import type { PhaseResult } from '../../bench/load.js';

const work = (scale: number): DbWork => ({
  redoBytes: 100 * scale, rowWrites: 2 * scale, pageReads: 10 * scale, pageWrites: 5 * scale, pageReorgs: 0, statements: scale, commits: scale, bytesIn: 50 * scale, bytesOut: 20 * scale,
});

function chunk(over: Partial<PhaseResult>): PhaseResult {
  return {
    app: 'kit', kind: 'send', seconds: 2, ok: 2_000, requests: 2_000, statusCodes: { 202: 2_000 }, errors: 0, timeouts: 0, rps: 1_000,
    p50: 10, p99: 30, mean: 12, cpu: { server: 0.8, db: 0.4, loadgen: 0.2 }, knexPerRequest: 0.4, driverPerRequest: 0.4, exhausted: false, dbWork: work(1),
    ...over,
  };
}

describe('bench: a phase measured in chunks (bench/app-session.ts)', () => {
  it('adds counts, seconds and CPU up and takes rates over the sum', () => {
    const merged = mergePhases([
      chunk({ seconds: 2, ok: 2_000, requests: 2_000, statusCodes: { 202: 2_000 }, cpu: { server: 1, db: 0.5, loadgen: 0.2 } }),
      chunk({ seconds: 3, ok: 2_400, requests: 2_500, statusCodes: { 202: 2_400, 429: 100 }, errors: 1, timeouts: 2, cpu: { server: 0.5, db: 0.25, loadgen: 0.4 } }),
    ]);
    assert.equal(merged.seconds, 5);
    assert.equal(merged.ok, 4_400);
    assert.equal(merged.requests, 4_500);
    assert.deepEqual(merged.statusCodes, { 202: 4_400, 429: 100 });
    assert.equal(merged.errors, 1);
    assert.equal(merged.timeouts, 2);
    assert.equal(merged.rps, 4_400 / 5);
    // CPU seconds: server 2 × 1 + 3 × 0.5 = 3.5 over 5 s.
    assert.equal(merged.cpu.server, 0.7);
    assert.equal(merged.cpu.db, 0.35);
    assert.ok(Math.abs(merged.cpu.loadgen - 0.32) < 1e-9);
  });

  it('weighs the mean and p50 by responses, keeps the highest p99, and any exhausted chunk marks the phase', () => {
    const merged = mergePhases([chunk({ requests: 1_000, mean: 10, p50: 8, p99: 40, knexPerRequest: 0.3 }), chunk({ requests: 3_000, mean: 20, p50: 16, p99: 35, knexPerRequest: 0.5, exhausted: true })]);
    assert.equal(merged.mean, 17.5);
    assert.equal(merged.p50, 14);
    assert.equal(merged.p99, 40);
    assert.equal(merged.knexPerRequest, 0.45);
    assert.equal(merged.exhausted, true);
  });

  it("gives MariaDB's work per successful request over all chunks, and none unless every chunk was probed", () => {
    const merged = mergePhases([chunk({ ok: 1_000, dbWork: work(1) }), chunk({ ok: 3_000, dbWork: work(3) })]);
    assert.equal(merged.dbWork?.redoBytes, (100 * 1_000 + 300 * 3_000) / 4_000);
    assert.equal(merged.dbWork?.statements, 2.5);
    const unprobed: PhaseResult = { ...chunk({}) };
    delete (unprobed as { dbWork?: DbWork }).dbWork;
    assert.equal(mergePhases([chunk({}), unprobed]).dbWork, undefined);
  });

  it('passes one chunk through and refuses none', () => {
    const one = chunk({});
    assert.equal(mergePhases([one]), one);
    assert.throws(() => mergePhases([]), /at least one chunk/);
  });
});
