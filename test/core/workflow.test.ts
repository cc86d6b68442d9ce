/** Issue 26: the workflow option, its validation, the stored plan and the step history (pure). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closeCurrent, codeSources, formatPlan, nextStepDueAt, parsePlan, planFor, resolveWorkflowOptions, toPlan, type StepRecord } from '../../lib/core/workflow.js';
import { isOtpError } from '../../lib/errors.js';
import { resolveOptions } from '../../lib/options.js';

function configError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => isOtpError(e) && e.code === 'CONFIG_INVALID' && pattern.test(e.message));
}

describe('workflow option', () => {
  it('takes steps or the short form, with Vonage’s default of 180 s and no timeout on the last step', () => {
    const steps = resolveOptions({ workflow: [{ channel: 'sms', timeoutSeconds: 60 }, { channel: 'whatsapp' }, { channel: 'call' }], env: {} }).workflow;
    assert.deepEqual(steps, [
      { channel: 'sms', timeoutSeconds: 60 },
      { channel: 'whatsapp', timeoutSeconds: 180 },
      { channel: 'call', timeoutSeconds: null },
    ]);
    assert.deepEqual(resolveOptions({ workflow: 'sms:60, call', env: {} }).workflow, [
      { channel: 'sms', timeoutSeconds: 60 },
      { channel: 'call', timeoutSeconds: null },
    ]);
    assert.equal(resolveOptions({ env: {} }).workflow, undefined);
    assert.equal(resolveOptions({ workflow: false, env: { OTP_WORKFLOW: 'sms,call' } }).workflow, undefined);
  });

  it('reads OTP_WORKFLOW when the option is not given', () => {
    assert.equal(formatPlan(resolveOptions({ env: { OTP_WORKFLOW: 'sms:30,call' } }).workflow ?? []), 'sms:30,call');
    configError(() => resolveOptions({ env: { OTP_WORKFLOW: 'sms:5,call' } }), /`OTP_WORKFLOW\[0\]\.timeoutSeconds` must be a whole number of seconds from 15 to 900 \(got 5\)/);
  });

  it('refuses bad steps with CONFIG_INVALID naming the field', () => {
    configError(() => resolveOptions({ workflow: [{ channel: 'sms', timeoutSeconds: 10 }, { channel: 'call' }], env: {} }), /option `workflow\.0\.timeoutSeconds` must be greater than or equal to 15/);
    configError(() => resolveOptions({ workflow: [{ channel: 'sms', timeoutSeconds: 901 }, { channel: 'call' }], env: {} }), /workflow\.0\.timeoutSeconds/);
    configError(() => resolveOptions({ workflow: [{ channel: 'fax' as 'sms' }], env: {} }), /workflow\.0\.channel/);
    configError(() => resolveOptions({ workflow: [{ channel: 'sms', timeoutSeconds: 60 }, { channel: 'call', timeoutSeconds: 60 }], env: {} }), /`workflow\[1\]\.timeoutSeconds` the last step has no timeout/);
    configError(() => resolveOptions({ workflow: 'sms:60,pigeon', env: {} }), /`workflow\[1\]\.channel` must be one of sms, call, whatsapp/);
    configError(() => resolveOptions({ workflow: [], env: {} }), /workflow/);
    configError(() => resolveOptions({ workflowByPurpose: { login: 'sms:1,call' }, env: {} }), /`workflowByPurpose\.login\[0\]\.timeoutSeconds`/);
    configError(() => resolveOptions({ workflow: 'sms:200,whatsapp:100,call', env: {} }), /`workflow` waits 300 s before its last step, which is not less than the code's lifetime \(ttlSeconds 300\)/);
    assert.equal(formatPlan(resolveOptions({ workflow: 'sms:200,whatsapp:100,call', ttlSeconds: 600, env: {} }).workflow ?? []), 'sms:200,whatsapp:100,call');
  });

  it('picks the per-send override, then the purpose’s, then the default; only for sends on the first step’s channel', () => {
    const config = { ...resolveWorkflowOptions({ workflow: 'sms:60,call', workflowByPurpose: { login: 'whatsapp:30,sms', payout: false } }, {}), ttlSeconds: 300 };
    assert.equal(formatPlan(planFor(config, 'default', 'sms', undefined) ?? []), 'sms:60,call');
    assert.equal(planFor(config, 'default', 'call', undefined), undefined, 'a user who asked for a call gets a call');
    assert.equal(formatPlan(planFor(config, 'login', 'whatsapp', undefined) ?? []), 'whatsapp:30,sms');
    assert.equal(planFor(config, 'payout', 'sms', undefined), undefined);
    assert.equal(planFor(config, 'default', 'sms', false), undefined);
    assert.equal(formatPlan(planFor(config, 'default', 'sms', [{ channel: 'sms', timeoutSeconds: 15 }, { channel: 'whatsapp' }]) ?? []), 'sms:15,whatsapp');
    assert.throws(() => planFor(config, 'default', 'sms', 'call:30,sms'), (e: unknown) => isOtpError(e) && e.code === 'VALIDATION_FAILED' && e.status === 400);
    assert.throws(() => planFor(config, 'default', 'sms', 'sms:3,call'), (e: unknown) => isOtpError(e) && e.code === 'VALIDATION_FAILED' && /timeoutSeconds/.test(e.message));
    assert.throws(() => planFor(config, 'default', 'sms', 'sms:300,call'), (e: unknown) => isOtpError(e) && e.code === 'VALIDATION_FAILED' && /ttlSeconds 300/.test(e.message));
  });

  it('stores the plan as a short string and schedules each step from its start', () => {
    const plan = toPlan('sms:60,whatsapp:120,call', 'workflow');
    assert.deepEqual(parsePlan(formatPlan(plan)), plan);
    assert.equal(parsePlan('garbage'), undefined);
    assert.equal(nextStepDueAt(plan, 0, 1000), 61_000);
    assert.equal(nextStepDueAt(plan, 1, 1000), 121_000);
    assert.equal(nextStepDueAt(plan, 2, 1000), null);
  });

  it('closes the current step from the row and lists code sources latest first', () => {
    const history: StepRecord[] = [{ step: 0, channel: 'sms', at: 1, outcome: 'started' }];
    const closed = closeCurrent(history, { provider: 'Mada', providerRef: 'm1', codeOwner: 'kit', delivered: true });
    assert.deepEqual(closed, [{ step: 0, channel: 'sms', at: 1, outcome: 'sent', provider: 'Mada', ref: 'm1', codeOwner: 'kit' }]);
    const withSinch = [...closed, { step: 1, channel: 'sms', at: 2, outcome: 'sent', provider: 'Sinch', ref: 's1', codeOwner: 'provider' } as StepRecord];
    assert.deepEqual(codeSources(withSinch, { provider: 'Twilio', providerRef: 'VE1', codeOwner: 'provider', delivered: true }), [
      { provider: 'Twilio', ref: 'VE1' },
      { provider: 'Sinch', ref: 's1' },
      { provider: null, ref: null },
    ]);
    assert.deepEqual(closeCurrent(history, { provider: null, providerRef: null, codeOwner: 'kit', delivered: false })[0]?.outcome, 'undelivered');
  });
});
