/**
 * The verify budget on its own: the per-IP cap, the number's locks, reserving near the end of the
 * failure budget, charging failures after the fact, and forgetting them after a success.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { OtpEvents } from '../../lib/events.js';
import { resolveLimits, type LimitOptions } from '../../lib/limits/config.js';
import { createCounterSet } from '../../lib/limits/counters.js';
import { createVerifyBudget, type VerifyBudget } from '../../lib/limits/verify-budget.js';
import { silentLogger } from '../../lib/logger.js';
import { readFailureState } from '../../lib/storage/failure-queries.js';
import { DEFAULT_TABLES, migrateOtpTables } from '../../lib/storage/migrations.js';
import { forEachDatabase, type TestDatabase } from '../helpers/db.js';

const PHONE = '+359871300001';

async function budgetOf(db: TestDatabase, limits: LimitOptions): Promise<VerifyBudget> {
  await migrateOtpTables(db.knex);
  await db.knex(DEFAULT_TABLES.limits).del();
  await db.knex(DEFAULT_TABLES.failures).del();
  const events = new OtpEvents(silentLogger);
  const resolved = resolveLimits(limits);
  const set = createCounterSet(db.knex, { limits: resolved, tables: DEFAULT_TABLES, logger: silentLogger, batching: false }, events);
  return createVerifyBudget(db.knex, { limits: resolved, tables: DEFAULT_TABLES, maxAttempts: 5, clock: Date.now, logger: silentLogger, webhooks: undefined }, set, events);
}

const failures = async (db: TestDatabase): Promise<number | undefined> => (await readFailureState(db.knex, DEFAULT_TABLES.failures, PHONE))?.failures;

forEachDatabase('verify budget', (db) => {
  it('refuses verifies over the per-IP cap as a result', async () => {
    const budget = await budgetOf(db(), { verifiesPerIp: { max: 2, windowSeconds: 60 } });
    assert.equal(await budget.admit('203.0.113.1'), undefined);
    assert.equal(await budget.admit('203.0.113.1'), undefined);
    assert.deepEqual({ ...(await budget.admit('203.0.113.1')), retryAfter: 0 }, { code: 'RATE_LIMITED', retryAfter: 0, limit: 'verifiesPerIp', max: 2, windowSeconds: 60 });
  });

  it('reserves only near the end of the budget (failures + 2 x maxAttempts >= budget)', async () => {
    const budget = await budgetOf(db(), { failureBudget: { failures: 100, lockSeconds: 60 } });
    const state = (n: number | undefined) => ({ counters: new Map(), failures: n === undefined ? undefined : { failures: n, lockedUntil: null } });
    assert.equal(budget.mustReserve(state(undefined)), false);
    assert.equal(budget.mustReserve(state(89)), false);
    assert.equal(budget.mustReserve(state(90)), true);
  });

  it('charges a counted failure after the fact, locks the number when the budget is spent, and a success forgets it', async () => {
    const budget = await budgetOf(db(), { failureBudget: { failures: 3, lockSeconds: 60 }, verifyLock: false });
    await budget.failed(PHONE, false);
    assert.equal(await failures(db()), 1);
    assert.equal(await budget.reserve(PHONE), undefined);
    await budget.failed(PHONE, true);
    assert.equal(await failures(db()), 2);
    await budget.failed(PHONE, false);
    const { state, refusal } = await budget.locked(PHONE, undefined);
    assert.equal(state.failures?.failures, 3);
    assert.equal(refusal?.limit, 'failureBudget', 'spent and locked');
    assert.equal((await budget.reserve(PHONE))?.code, 'RATE_LIMITED');
    await budget.succeeded(PHONE, undefined);
    assert.equal(await failures(db()), undefined);
    assert.equal((await budget.locked(PHONE, undefined)).refusal, undefined);
  });

  it('a released reservation gives its unit back; spent() answers only a spent budget', async () => {
    const budget = await budgetOf(db(), { failureBudget: { failures: 1, lockSeconds: 60 } });
    assert.equal(await budget.reserve(PHONE), undefined);
    assert.equal((await budget.spent(PHONE))?.limit, 'failureBudget', 'the one unit is taken by a guess in flight');
    await budget.release(PHONE);
    assert.equal(await budget.spent(PHONE), undefined);
    assert.deepEqual(budget.condition(PHONE), { phone: PHONE, max: 1 });
  });
});
