/**
 * Issue 26 end to end: escalation workflows through the real SDKs against the loopback fakes, on
 * every database. An SMS through Mada that nobody verifies within its step's time becomes a call
 * through Twilio (another vendor), under the same request id; an undelivered report from Mada
 * brings the call forward; a verification before the timeout sends nothing more, and one that races
 * the step stops it before the provider call; a step the destination policy or the daily budget
 * refuses is skipped with `step-skipped`; the attempt cap holds across steps. The clock is the
 * kit's injected clock: no real waits of 15 s or more.
 */
import assert from 'node:assert/strict';
import { afterEach, before, beforeEach, it } from 'node:test';
import express from 'express';
import request from 'supertest';
import { createExampleApp } from '../../examples/app.js';
import { createOtp, migrateOtpTables, otpCallbackRouter, type Otp, type OtpEventMap, type OtpOptions } from '../../lib/index.js';
import { parseSteps } from '../../lib/core/workflow.js';
import { forEachDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/worker-utils.js';
import { eventually, fakeEnv, phone, recordingLogger, testClock, useFakes, wrongCode, type TestClock } from './harness.js';

const fakes = useFakes();
const MADA_TOKEN = 'mada-callback-token-0123456789abcdef';
/** Mada delivers text messages to +35987…; Twilio and Sinch serve calls. */
const ROUTING = 'Mada:+35987;Twilio';
const WEBHOOK = { url: 'http://127.0.0.1:9/hook', secret: `whsec_${Buffer.alloc(24, 7).toString('base64')}` };

interface Started {
  readonly otp: Otp;
  readonly clock: TestClock;
  readonly events: { escalated: OtpEventMap['escalated'][]; skipped: OtpEventMap['step-skipped'][] };
  stop(): Promise<void>;
}

forEachDatabase('escalation workflows end to end', (get) => {
  before(async () => {
    await migrateOtpTables(get().knex);
  });
  beforeEach(() => fakes().reset());
  afterEach(() => fakes().assertNoProtocolProblems());

  function start(options: Partial<OtpOptions> = {}, routing = ROUTING): Started {
    const clock = testClock();
    const otp = createOtp({ db: get().knex, env: fakeEnv(fakes(), routing), logger: recordingLogger(), clock, workflow: 'sms:60,call', providerTimeoutMs: 2000, webhooks: WEBHOOK, ...options });
    const events = { escalated: [] as OtpEventMap['escalated'][], skipped: [] as OtpEventMap['step-skipped'][] };
    otp.events.on('escalated', (e) => events.escalated.push(e));
    otp.events.on('step-skipped', (e) => events.skipped.push(e));
    const poller = otp.startRetryPoller({ pollInterval: 20, purgeInterval: false });
    return { otp, clock, events, stop: () => poller.stop() };
  }

  const twilioCalls = (to: string): number => fakes().twilio.requests.filter((r) => r.op === 'send' && r.form.To === to && r.form.Channel === 'call').length;
  const rowOf = async (requestId: string): Promise<Record<string, unknown>> => {
    const row: Record<string, unknown> | undefined = await get().knex('otp_requests').where({ request_id: requestId }).first();
    assert.ok(row !== undefined);
    return row;
  };
  /** The `otp.step_skipped` webhooks of a request in the outbox, with their raw bodies. */
  const skippedHooks = async (requestId: string): Promise<Array<{ raw: string; data: Record<string, unknown> }>> => {
    const rows: Array<{ body: string }> = await get().knex('otp_webhooks').where({ event_type: 'otp.step_skipped', request_id: requestId }).select('body');
    return rows.map((r) => ({ raw: r.body, data: (JSON.parse(r.body) as { data: Record<string, unknown> }).data }));
  };
  const skippedFields = (d: Record<string, unknown>): unknown[] => [d.requestId, d.step, d.channel, d.reason, d.limit, d.phone, d.provider];
  /** Generous: the first call of an SDK loads it, on a loaded machine. */
  const WAIT_MS = 15_000;
  const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 250));

  it('the demo page learns the workflow (OTP_WORKFLOW) and says it will call', async () => {
    const otp = createOtp({ db: get().knex, env: { ...fakeEnv(fakes(), ROUTING), OTP_WORKFLOW: 'sms:60,call' }, logger: recordingLogger() });
    const page = await request(createExampleApp(otp, {})).get('/');
    assert.match(page.text, /data-workflow="sms:60,call"/);
    assert.match(page.text, /We'll call you if the code doesn't arrive\./);
    const none = createOtp({ db: get().knex, env: fakeEnv(fakes(), ROUTING), logger: recordingLogger() });
    assert.match((await request(createExampleApp(none, {})).get('/')).text, /data-workflow=""/);
  });

  it('an SMS unverified after its timeout becomes a call through another vendor, same request id; the call’s code verifies', async () => {
    const kit = start();
    try {
      const to = phone('+35987');
      const sent = await kit.otp.sendSms(to);
      assert.equal(sent.provider, 'Mada');
      assert.equal(fakes().sendsTo('Mada', to), 1);
      kit.clock.advance(59_000);
      await settle();
      assert.equal(twilioCalls(to), 0, 'nothing before the step’s time');
      kit.clock.advance(2_000);
      await eventually(() => twilioCalls(to) === 1, 'the call through Twilio', WAIT_MS);
      await eventually(() => kit.events.escalated.length === 1, 'the escalated event', WAIT_MS);
      assert.deepEqual(kit.events.escalated[0], { requestId: sent.requestId, step: 1, fromChannel: 'sms', toChannel: 'call', fromProvider: 'Mada', toProvider: 'Twilio' });
      const row = await rowOf(sent.requestId);
      assert.equal(await get().knex('otp_requests').where({ phone: to }).count({ n: '*' }).then((r) => Number(r[0]?.n)), 1, 'one request row throughout');
      assert.deepEqual([row.channel, row.provider, Number(row.workflow_step), row.step_due_at, row.code_cipher], ['call', 'Twilio', 1, null, null]);
      const steps = parseSteps(String(row.steps));
      assert.deepEqual(steps.map((s) => [s.step, s.channel, s.outcome, s.provider ?? null]), [[0, 'sms', 'sent', 'Mada'], [1, 'call', 'started', null]]);
      const hooks: Array<{ body: string }> = await get().knex('otp_webhooks').where({ event_type: 'otp.escalated', request_id: sent.requestId }).select('body');
      assert.equal(hooks.length, 1, 'one otp.escalated webhook in the outbox');
      const data = (JSON.parse(hooks[0]?.body ?? '{}') as { data: Record<string, unknown> }).data;
      assert.deepEqual([data.step, data.fromChannel, data.toChannel, data.fromProvider, data.toProvider], [1, 'sms', 'call', 'Mada', 'Twilio']);
      assert.ok(!String(hooks[0]?.body).includes(to.slice(1)), 'the webhook masks the number');

      kit.clock.advance(600_000 - 61_000 - 1);
      await settle();
      assert.equal(twilioCalls(to), 1, 'the last step has no successor');
      const code = fakes().codeFor('Twilio', to);
      kit.clock.advance(-300_000);
      const verified = await kit.otp.verify(to, code);
      assert.equal(verified.codeValid, true);
      assert.equal(verified.requestId, sent.requestId);
      assert.deepEqual(fakes().checksOf('Twilio', to).map((c) => c.code), [code], 'the call’s provider checked the code (latest step first)');
    } finally {
      await kit.stop();
    }
  });

  it('the first SMS’s kit-owned code still verifies after the call went out', async () => {
    const kit = start();
    try {
      const to = phone('+35987');
      const sent = await kit.otp.sendSms(to);
      const smsCode = fakes().codeFor('Mada', to);
      kit.clock.advance(61_000);
      await eventually(() => twilioCalls(to) === 1, 'the call', WAIT_MS);
      await waitFor('the call marked sent', async () => (await rowOf(sent.requestId)).provider === 'Twilio', 5000);
      await settle();
      const verified = await kit.otp.verify(to, smsCode);
      assert.equal(verified.codeValid, true, 'the kit-owned code of step 1 is the same code across steps');
    } finally {
      await kit.stop();
    }
  });

  it('a provider-owned code of an earlier step is checked by that step’s provider, after the latest step’s says wrong', async () => {
    const kit = start({}, 'Sinch;Twilio');
    try {
      const to = phone('+35989');
      const sent = await kit.otp.sendSms(to);
      assert.equal(sent.provider, 'Sinch');
      const smsCode = fakes().codeFor('Sinch', to);
      // Sinch cannot place the call: the step fails over to Twilio inside its own chain.
      fakes().sinch.set({ start: { type: 'error', httpStatus: 503, errorCode: 50300, message: 'Service unavailable' } });
      kit.clock.advance(61_000);
      await eventually(() => kit.events.escalated.length === 1, 'the call', WAIT_MS);
      assert.deepEqual(kit.events.escalated[0], { requestId: sent.requestId, step: 1, fromChannel: 'sms', toChannel: 'call', fromProvider: 'Sinch', toProvider: 'Twilio' });
      fakes().sinch.set({ start: { type: 'logic' }, report: { type: 'logic' } });
      const verified = await kit.otp.verify(to, smsCode);
      assert.equal(verified.codeValid, true, JSON.stringify(verified));
      assert.equal(fakes().checksOf('Twilio', to).length, 1, 'the latest step’s provider was asked first');
      assert.deepEqual(fakes().checksOf('Sinch', to).map((c) => [c.code, c.method]), [[smsCode, 'sms']], 'then the SMS step’s provider, for its SMS verification');
      assert.equal((await rowOf(sent.requestId)).attempts, 1, 'one attempt for one guess');
    } finally {
      await kit.stop();
    }
  });

  it('an undelivered report (Mada DLR) starts the next step before the timeout', async () => {
    const kit = start();
    try {
      const app = express().use('/cb', otpCallbackRouter(kit.otp, { madaToken: MADA_TOKEN }));
      const to = phone('+35987');
      const sent = await kit.otp.sendSms(to);
      const ref = String((await rowOf(sent.requestId)).provider_ref);
      kit.clock.advance(5_000);
      const res = await request(app).post('/cb/mada').set('Authorization', `Bearer ${MADA_TOKEN}`).send({ messageId: ref, status: 'UNDELIV' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      await eventually(() => twilioCalls(to) === 1, 'the call, 5 s into a 60 s step', WAIT_MS);
      await eventually(() => kit.events.escalated.length === 1, 'escalated', WAIT_MS);
      const steps = parseSteps(String((await rowOf(sent.requestId)).steps));
      assert.equal(steps[0]?.outcome, 'sent');
      assert.equal(steps[1]?.channel, 'call');
    } finally {
      await kit.stop();
    }
  });

  it('a verification before the timeout ends the workflow: nothing more is sent', async () => {
    const kit = start();
    try {
      const to = phone('+35987');
      const sent = await kit.otp.sendSms(to);
      kit.clock.advance(30_000);
      assert.equal((await kit.otp.verify(to, fakes().codeFor('Mada', to))).codeValid, true);
      kit.clock.advance(120_000);
      await settle();
      assert.equal(twilioCalls(to), 0);
      assert.equal(kit.events.escalated.length, 0);
      const row = await rowOf(sent.requestId);
      assert.deepEqual([row.verify_status, row.status, Number(row.workflow_step)], ['verified', 'sent', 0]);
    } finally {
      await kit.stop();
    }
  });

  it('a verification racing the step stops it before the provider call', async () => {
    // The call chain is Sinch then Twilio; Sinch hangs, and the code is verified while it does:
    // the lease check before Twilio sees the verification and Twilio is never called.
    fakes().sinch.set({ start: { type: 'hang' } });
    const kit = start({ providerTimeoutMs: 1500 }, 'Mada:+35987;Sinch;Twilio');
    try {
      const to = phone('+35987');
      const sent = await kit.otp.sendSms(to);
      kit.clock.advance(61_000);
      await eventually(() => fakes().sinch.requests.some((r) => r.operation === 'start'), 'the step’s first provider call (hanging)', WAIT_MS);
      assert.equal((await kit.otp.verify(to, fakes().codeFor('Mada', to))).codeValid, true);
      await waitFor('the step settled', async () => (await rowOf(sent.requestId)).lease_token === null, 8000);
      await settle();
      assert.equal(twilioCalls(to), 0, 'no provider call after the verification');
      assert.equal(kit.events.escalated.length, 0);
      const row = await rowOf(sent.requestId);
      assert.deepEqual([row.verify_status, row.status, row.provider], ['verified', 'sent', 'Mada']);
      assert.deepEqual(parseSteps(String(row.steps)).map((s) => [s.step, s.outcome, s.reason ?? null]), [[0, 'sent', null], [1, 'skipped', 'verified']]);
    } finally {
      await kit.stop();
    }
  });

  it('a step the destination policy refuses is skipped with step-skipped; the next one is sent', async () => {
    const kit = start({ workflow: 'sms:15,call:15,whatsapp', destinations: { call: { deny: ['BG'] } } });
    try {
      const to = phone('+35987');
      const sent = await kit.otp.sendSms(to);
      kit.clock.advance(16_000);
      await eventually(() => fakes().twilio.requests.some((r) => r.op === 'send' && r.form.To === to && r.form.Channel === 'whatsapp'), 'the WhatsApp step', WAIT_MS);
      assert.equal(twilioCalls(to), 0, 'no call to a country denied for calls');
      assert.deepEqual(kit.events.skipped, [{ requestId: sent.requestId, step: 1, channel: 'call', reason: 'policy' }]);
      await eventually(() => kit.events.escalated.length === 1, 'escalated', WAIT_MS);
      assert.deepEqual(kit.events.escalated[0], { requestId: sent.requestId, step: 2, fromChannel: 'sms', toChannel: 'whatsapp', fromProvider: 'Mada', toProvider: 'Twilio' });
      const steps = parseSteps(String((await rowOf(sent.requestId)).steps));
      assert.deepEqual(steps.map((s) => [s.step, s.outcome, s.reason ?? null]), [[0, 'sent', null], [1, 'skipped', 'policy'], [2, 'started', null]]);
      // The otp.step_skipped webhook: written once, with the advance to the WhatsApp step; no number, no code.
      const hooks = await skippedHooks(sent.requestId);
      assert.equal(hooks.length, 1, 'one otp.step_skipped webhook');
      assert.deepEqual(skippedFields(hooks[0]?.data ?? {}), [sent.requestId, 1, 'call', 'policy', null, null, null]);
      const code = fakes().codeFor('Mada', to);
      assert.ok(!hooks[0]?.raw.includes(to.slice(-7)) && !hooks[0]?.raw.includes(code), 'no number and no code in the webhook');
    } finally {
      await kit.stop();
    }
  });

  it('a step over the daily send budget is skipped and the workflow ends', async () => {
    const kit = start({ limits: { dailySendBudget: 1 } });
    try {
      // The budget is global: start from an empty window in this file's database.
      await get().knex('otp_limits').del();
      const to = phone('+35987');
      const sent = await kit.otp.sendSms(to);
      kit.clock.advance(61_000);
      await eventually(() => kit.events.skipped.length === 1, 'the skipped step', WAIT_MS);
      assert.deepEqual(kit.events.skipped[0], { requestId: sent.requestId, step: 1, channel: 'call', reason: 'limit', limit: 'dailySendBudget' });
      await waitFor('the workflow ended', async () => (await rowOf(sent.requestId)).lease_token === null, 5000);
      const row = await rowOf(sent.requestId);
      assert.equal(row.step_due_at, null);
      assert.equal(row.code_cipher, null, 'the sealed code is dropped once no step follows');
      assert.equal(twilioCalls(to), 0);
      // Written with the workflow's end, once (a later claim finds no step due).
      kit.clock.advance(60_000);
      await settle();
      const hooks = await skippedHooks(sent.requestId);
      assert.equal(hooks.length, 1, 'one otp.step_skipped webhook');
      assert.deepEqual(skippedFields(hooks[0]?.data ?? {}), [sent.requestId, 1, 'call', 'limit', 'dailySendBudget', null, null]);
      assert.ok(!hooks[0]?.raw.includes(to.slice(-7)) && !hooks[0]?.raw.includes(fakes().codeFor('Mada', to)), 'no number and no code in the webhook');
    } finally {
      await kit.stop();
    }
  });

  it('a later step does not charge the per-number cooldown or cap, but counts against the daily budget', async () => {
    const kit = start({ workflow: 'sms:15,call' });
    try {
      const to = phone('+35987');
      // Counter windows run on the wall clock, so the rows themselves are compared, before and after the step.
      const counters = async (): Promise<Record<string, string>> => {
        const rows: Array<Record<string, unknown>> = await get().knex('otp_limits').whereIn('key', [`n:${to}`, 'sg:global']).select();
        // The cooldown and the per-number cap are slots 1 and 3 of the number's row (lib/limits/keys.ts).
        const slot = (r: Record<string, unknown>, n: string): string => `${String(r[`points${n}`])}@${String(r[`expire${n}`])}`;
        return Object.fromEntries(rows.flatMap((r) => (r.key === 'sg:global' ? [['sg:global', slot(r, '')]] : [[`sc:${to}`, slot(r, '_1')], [`sn:${to}`, slot(r, '_3')]])));
      };
      await kit.otp.sendSms(to);
      const before = await counters();
      kit.clock.advance(16_000);
      await eventually(() => kit.events.escalated.length === 1, 'the call at 16 s', WAIT_MS);
      const after = await counters();
      assert.ok(before[`sc:${to}`] !== undefined && before[`sn:${to}`] !== undefined, JSON.stringify(before));
      assert.equal(after[`sc:${to}`], before[`sc:${to}`], 'the cooldown still runs from the first step');
      assert.equal(after[`sn:${to}`], before[`sn:${to}`], 'the per-number cap counted the request once');
      assert.equal(Number(after['sg:global']?.split('@')[0]), Number(before['sg:global']?.split('@')[0]) + 1, 'the step took a unit of the daily budget');
      await assert.rejects(kit.otp.sendSms(to), (e: { code?: string; details?: { limit?: string } }) => e.code === 'RATE_LIMITED' && e.details?.limit === 'sendCooldownSeconds');
    } finally {
      await kit.stop();
    }
  });

  it('the attempt cap holds across steps: wrong codes against both steps count once each', async () => {
    const kit = start({ maxAttempts: 3 });
    try {
      const to = phone('+35987');
      await kit.otp.sendSms(to);
      const smsCode = fakes().codeFor('Mada', to);
      kit.clock.advance(61_000);
      await eventually(() => kit.events.escalated.length === 1, 'the call', WAIT_MS);
      const callCode = fakes().codeFor('Twilio', to);
      const wrong = [wrongCode(smsCode), wrongCode(callCode)].find((c) => c !== smsCode && c !== callCode) ?? '000000';
      for (let i = 0; i < 3; i += 1) {
        const r = await kit.otp.verify(to, wrong);
        assert.equal(r.codeValid, false);
      }
      for (const right of [callCode, smsCode]) {
        const r = await kit.otp.verify(to, right);
        assert.deepEqual([r.codeValid, r.reason], [false, 'OTP_TOO_MANY_ATTEMPTS'], 'the right code of either step is refused after the cap');
      }
      assert.equal(fakes().checksOf('Twilio', to).length, 3, 'Twilio was asked once per counted guess, never after the cap');
    } finally {
      await kit.stop();
    }
  });
});
