/**
 * Issue 26 on every database: conversion per escalation workflow step. A mix through the real SDKs
 * against the loopback fakes (SMS through Mada, then a call through Twilio): some requests verified
 * at the first step, some after the call went out, some never (escalated or not). `otp.insights()`
 * grouped by `step` equals a count over the request rows, and so does `GET /insights?groupBy=step`.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import express from 'express';
import request from 'supertest';
import { createOtp, otpInsightsRouter, type OtpEventMap } from '../../lib/index.js';
import { internalsOf } from '../../lib/service/internals.js';
import { sweepEnds } from '../../lib/service/request-ends.js';
import { forEachDatabase } from '../helpers/db.js';
import { eventually, fakeEnv, phone, recordingLogger, testClock, useFakes } from '../integration/harness.js';

const WAIT_MS = 15_000;

forEachDatabase('insights per workflow step', (db) => {
  const fakes = useFakes();

  it('requests and verifications per step equal a count over the request rows', { timeout: 120_000 }, async () => {
    const f = fakes();
    const start = Date.UTC(2026, 10, 25, 10, 0, 0);
    const clock = testClock(start);
    const otp = createOtp({ db: db().knex, env: fakeEnv(f, 'Mada:+35987;Twilio'), logger: recordingLogger(), clock, workflow: 'sms:60,call', providerTimeoutMs: 2000, limits: false });
    await otp.migrate();
    const escalated: Array<OtpEventMap['escalated']> = [];
    otp.events.on('escalated', (e) => escalated.push(e));
    const poller = otp.startRetryPoller({ pollInterval: 20, purgeInterval: false });
    const sms = (to: string): string => f.codeFor('Mada', to);
    try {
      // Verified at step 1: before the SMS step's 60 s ran out.
      for (let i = 0; i < 3; i += 1) {
        const to = phone('+35987');
        await otp.sendSms(to);
        assert.equal((await otp.verify(to, sms(to))).codeValid, true);
      }
      // No workflow for this send: never verified, step 1.
      const plain = phone('+35987');
      await otp.sendSms(plain, { workflow: false });
      // Escalated to the call: two verified after it (the call's code, and the SMS's kit code), one never.
      const later = [phone('+35987'), phone('+35987'), phone('+35987')];
      for (const to of later) await otp.sendSms(to);
      clock.advance(61_000);
      await eventually(() => escalated.length === later.length, 'three calls', WAIT_MS);
      await eventually(() => later.every((to) => f.twilio.requests.some((r) => r.op === 'send' && r.form.To === to)), 'the calls sent', WAIT_MS);
      assert.equal((await otp.verify(later[0] ?? '', f.codeFor('Twilio', later[0] ?? ''))).codeValid, true);
      assert.equal((await otp.verify(later[1] ?? '', sms(later[1] ?? ''))).codeValid, true);
    } finally {
      await poller.stop();
    }
    clock.advance(700_000);
    await sweepEnds(internalsOf(otp));

    const rows: Array<{ workflow_step: unknown; verify_status: string; end_outcome: string | null; workflow: string | null }> = await db().knex('otp_requests').select('workflow_step', 'verify_status', 'end_outcome', 'workflow');
    assert.equal(rows.length, 7);
    assert.ok(rows.every((r) => r.end_outcome !== null), 'every request ended');
    // Counted over the rows: the step a request is at when it ends (no step follows a verification).
    const expected = new Map<string, { requests: number; verified: number }>();
    for (const r of rows) {
      const step = String(Number(r.workflow_step) + 1);
      const e = expected.get(step) ?? { requests: 0, verified: 0 };
      e.requests += 1;
      if (r.verify_status === 'verified') e.verified += 1;
      expected.set(step, e);
    }
    assert.deepEqual(Object.fromEntries(expected), { 1: { requests: 4, verified: 3 }, 2: { requests: 3, verified: 2 } });

    const range = { from: new Date(start - 3_600_000), to: new Date(start + 86_400_000) };
    const result = await otp.insights({ ...range, groupBy: ['step'] });
    const got = Object.fromEntries(result.groups.map((g) => [g.key.step, { requests: g.requests, verified: g.verified }]));
    assert.deepEqual(got, Object.fromEntries(expected));
    const rates = Object.fromEntries(result.groups.map((g) => [g.key.step, g.conversionRate]));
    assert.deepEqual(rates, { 1: 3 / 4, 2: 2 / 3 });
    assert.deepEqual([result.totals.requests, result.totals.verified], [7, 5]);
    // With another dimension, and by day (the daily rollups), the same per-step figures.
    const byDay = await otp.insights({ ...range, groupBy: ['day', 'step'] });
    assert.deepEqual(Object.fromEntries(byDay.groups.map((g) => [g.key.step, { requests: g.requests, verified: g.verified }])), Object.fromEntries(expected));
    // Without `step` asked, no step key.
    assert.deepEqual(Object.keys((await otp.insights({ ...range, groupBy: ['channel'] })).groups[0]?.key ?? {}), ['channel']);

    // The HTTP route and its validation.
    const app = express().use('/admin', otpInsightsRouter(otp));
    const res = await request(app).get(`/admin/insights?from=${range.from.toISOString()}&to=${range.to.toISOString()}&groupBy=step`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const body = res.body as { groups: Array<{ key: { step: string }; requests: number; verified: number }> };
    assert.deepEqual(Object.fromEntries(body.groups.map((g) => [g.key.step, { requests: g.requests, verified: g.verified }])), Object.fromEntries(expected));
    const bad = await request(app).get('/admin/insights?groupBy=steps');
    assert.equal(bad.status, 400);
    assert.deepEqual([(bad.body as { error: { code: string; field: string } }).error.code, (bad.body as { error: { field: string } }).error.field], ['VALIDATION_FAILED', 'groupBy']);
    f.assertNoProtocolProblems();
    await otp.close();
  });
});
