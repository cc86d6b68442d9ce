/**
 * Send admission on its own, over a real counter table: refusals come back as data (code, wait,
 * the limit and its policy), refused destinations get a decoy, a failed challenge is refused, and
 * a locked number is refused without spending its cost budgets.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { canonicalPhone, type CanonicalPhone } from '../../lib/core/phone.js';
import { OtpEvents } from '../../lib/events.js';
import { resolveDestinations, resolveLimits, type LimitOptions } from '../../lib/limits/config.js';
import { createCounterSet, type CounterSet } from '../../lib/limits/counters.js';
import { createSendAdmission, type SendAdmission } from '../../lib/limits/send-admission.js';
import { silentLogger } from '../../lib/logger.js';
import { DEFAULT_TABLES, migrateOtpTables } from '../../lib/storage/migrations.js';
import type { ChallengeHook } from '../../lib/limits/config.js';
import { forEachDatabase, type TestDatabase } from '../helpers/db.js';

const number = (e164: string): CanonicalPhone => canonicalPhone(e164) as CanonicalPhone;

async function admission(db: TestDatabase, limits: LimitOptions, challenge?: ChallengeHook): Promise<{ admission: SendAdmission; events: OtpEvents; set: CounterSet }> {
  await migrateOtpTables(db.knex);
  await db.knex(DEFAULT_TABLES.limits).del();
  await db.knex(DEFAULT_TABLES.failures).del();
  const events = new OtpEvents(silentLogger);
  const resolved = resolveLimits(limits);
  const set = createCounterSet(db.knex, { limits: resolved, tables: DEFAULT_TABLES, logger: silentLogger, batching: true }, events);
  const settings = { limits: resolved, destinations: resolveDestinations({ deny: ['RU'] }), challenge, tables: DEFAULT_TABLES, ttlSeconds: 300, clock: Date.now, logger: silentLogger, webhooks: undefined };
  return { admission: createSendAdmission(db.knex, settings, set, events), events, set };
}

const check = (e164: string, ip = '203.0.113.9') => ({ number: number(e164), channel: 'sms' as const, purpose: 'default', ip, challengeToken: undefined });

forEachDatabase('send admission', (db) => {
  it('admits, then refuses the cooldown as a result with its wait, limit and policy', async () => {
    const { admission: a } = await admission(db(), { sendCooldownSeconds: 60 });
    const first = await a.admit(check('+359871200001'));
    assert.ok('admitted' in first);
    const second = await a.admit(check('+359871200001'));
    assert.ok('refusal' in second);
    assert.deepEqual({ ...second.refusal, retryAfter: second.refusal.retryAfter !== undefined && second.refusal.retryAfter > 0 }, { code: 'RATE_LIMITED', retryAfter: true, limit: 'sendCooldownSeconds', max: 1, windowSeconds: 60 });
  });

  it('a denied destination gets a decoy that looks like a send, and no cost budget is spent', async () => {
    const { admission: a, events } = await admission(db(), { dailySendBudget: 1 });
    const refused: string[] = [];
    events.on('send-refused', (e) => refused.push(e.reason));
    const decoy = await a.admit(check('+79161234567'));
    assert.ok('decoy' in decoy);
    assert.deepEqual([decoy.decoy.status, decoy.decoy.provider, decoy.decoy.channel], ['sent', null, 'sms']);
    assert.deepEqual(refused, ['country-denied']);
    // The daily budget of 1 is still there for a real send.
    assert.ok('admitted' in (await a.admit(check('+359871200002'))));
  });

  it('a failed or throwing challenge is refused with CHALLENGE_REQUIRED (fail closed)', async () => {
    const { admission: no } = await admission(db(), {}, () => false);
    assert.deepEqual(await no.admit(check('+359871200003')), { refusal: { code: 'CHALLENGE_REQUIRED' } });
    const { admission: broken } = await admission(db(), {}, () => {
      throw new Error('captcha service down');
    });
    assert.deepEqual(await broken.admit(check('+359871200003')), { refusal: { code: 'CHALLENGE_REQUIRED' } });
  });

  it('a number disabled by its failure budget is refused, and its cost budgets are given back', async () => {
    const { admission: a, set } = await admission(db(), { dailySendBudget: 1 });
    // As the verify side locks a number: its lock hint first, then the lock (test/limits/lock-hint.test.ts).
    await set.hintLock('+359871200004', 60);
    await db().knex(DEFAULT_TABLES.failures).insert({ phone: '+359871200004', failures: 100, locked_until: Date.now() + 60_000, updated_at: Date.now() });
    const locked = await a.admit(check('+359871200004'));
    assert.ok('refusal' in locked);
    assert.equal(locked.refusal.limit, 'failureBudget');
    assert.ok('admitted' in (await a.admit(check('+359871200005'))), 'the daily budget unit was given back');
  });
});
