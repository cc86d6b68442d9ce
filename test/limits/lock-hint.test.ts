/**
 * The number's lock hint (lib/storage/counter-sql.ts, `lockHintSql`): a lock of a number writes the
 * hint on its per-number row first, and a send that takes that row reads the number's lock rows only
 * while the hint holds. Sends of unlocked numbers then run no lock read at all, and a locked number
 * is still refused, by either lock.
 */
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import type { Knex } from 'knex';
import { canonicalPhone, type CanonicalPhone } from '../../lib/core/phone.js';
import { OtpEvents } from '../../lib/events.js';
import { resolveDestinations, resolveLimits, type LimitOptions } from '../../lib/limits/config.js';
import { createCounterSet, type CounterSet } from '../../lib/limits/counters.js';
import { createSendAdmission, type SendAdmission } from '../../lib/limits/send-admission.js';
import { createVerifyBudget, type VerifyBudget } from '../../lib/limits/verify-budget.js';
import { silentLogger } from '../../lib/logger.js';
import { lockHintsMigration } from '../../lib/storage/migration-lock-hints.js';
import { DEFAULT_TABLES, migrateOtpTables } from '../../lib/storage/migrations.js';
import { forEachDatabase, type TestDatabase } from '../helpers/db.js';

interface Limits {
  readonly set: CounterSet;
  readonly admission: SendAdmission;
  readonly budget: VerifyBudget;
  /** Statements that read the failure-budget table (the lock read) since the last call. */
  lockReads(): number;
}

async function limitsOf(t: TestContext, db: TestDatabase, options: LimitOptions): Promise<Limits> {
  await migrateOtpTables(db.knex);
  await db.knex(DEFAULT_TABLES.limits).del();
  await db.knex(DEFAULT_TABLES.failures).del();
  const events = new OtpEvents(silentLogger);
  const limits = resolveLimits(options);
  const set = createCounterSet(db.knex, { limits, tables: DEFAULT_TABLES, logger: silentLogger, batching: true }, events);
  const settings = { limits, tables: DEFAULT_TABLES, clock: Date.now, logger: silentLogger, webhooks: undefined };
  const admission = createSendAdmission(db.knex, { ...settings, destinations: resolveDestinations({}), challenge: undefined, ttlSeconds: 300 }, set, events);
  const budget = createVerifyBudget(db.knex, { ...settings, maxAttempts: 5 }, set, events);
  let reads = 0;
  const count = (query: { sql?: string }): void => {
    if (/^select/i.test(query.sql ?? '') && (query.sql ?? '').includes(DEFAULT_TABLES.failures)) reads += 1;
  };
  db.knex.on('query', count);
  t.after(() => db.knex.off('query', count));
  return {
    set,
    admission,
    budget,
    lockReads() {
      const n = reads;
      reads = 0;
      return n;
    },
  };
}

const number = (e164: string): CanonicalPhone => canonicalPhone(e164) as CanonicalPhone;
const send = (l: Limits, e164: string) => l.admission.admit({ number: number(e164), channel: 'sms', purpose: 'default', ip: '203.0.113.7', challengeToken: undefined });

async function numberRow(knex: Knex, phone: string): Promise<Record<string, unknown> | undefined> {
  return (await knex(DEFAULT_TABLES.limits).where('key', `n:${phone}`).first()) as Record<string, unknown> | undefined;
}

forEachDatabase('lock hint', (db) => {
  it('a failure-budget lock writes the hint first: the locked number is refused, other sends read no lock rows', async (t) => {
    const l = await limitsOf(t, db(), { sendCooldownSeconds: false, failureBudget: { failures: 3, lockSeconds: 600 }, verifyLock: false });
    const phone = '+359871400001';
    assert.ok('admitted' in (await send(l, phone)));
    assert.equal(l.lockReads(), 0, 'an unlocked number: no lock read');
    const before = Date.now();
    for (let i = 0; i < 3; i += 1) await l.budget.failed(phone, false);
    const row = await numberRow(db().knex, phone);
    assert.ok(Number(row?.points) * 60_000 >= before + 600_000, 'the hint lasts as long as the lock');
    assert.ok(Number(row?.expire) >= before + 600_000, "the row's own expiry covers the hint (the sweep keeps it)");
    l.lockReads();
    const locked = await send(l, phone);
    assert.ok('refusal' in locked && locked.refusal.limit === 'failureBudget');
    assert.equal(l.lockReads(), 1, 'the hinted number: its lock rows read');
    assert.ok('admitted' in (await send(l, '+359871400002')));
    assert.equal(l.lockReads(), 0);
  });

  it('a wrong-code lock writes the hint too', async (t) => {
    const l = await limitsOf(t, db(), { sendCooldownSeconds: false, failureBudget: false, verifyLock: { failures: 2, windowSeconds: 60, lockSeconds: 60 } });
    const phone = '+359871400003';
    for (let i = 0; i < 2; i += 1) await l.budget.failed(phone, false);
    const locked = await send(l, phone);
    assert.ok('refusal' in locked && locked.refusal.limit === 'verifyLock');
  });

  it('a failure far from the end of the budget writes no hint (it cannot lock)', async (t) => {
    const l = await limitsOf(t, db(), { failureBudget: { failures: 100, lockSeconds: 600 }, verifyLock: false });
    const phone = '+359871400004';
    await l.budget.failed(phone, false, { counters: new Map(), failures: { failures: 10, lockedUntil: null } });
    assert.equal(await numberRow(db().knex, phone), undefined);
    await l.budget.failed(phone, false, { counters: new Map(), failures: { failures: 89, lockedUntil: null } });
    assert.ok(Number((await numberRow(db().knex, phone))?.points) > 0, 'near the end: hinted');
  });

  it('with every per-number counter off, a send reads the lock rows alongside its takes (a lock with no hint refuses)', async (t) => {
    const l = await limitsOf(t, db(), { sendCooldownSeconds: false, channelSwitchCooldownSeconds: false, sendsPerNumber: false, verifyLock: false });
    const phone = '+359871400005';
    await db().knex(DEFAULT_TABLES.failures).insert({ phone, failures: 100, locked_until: Date.now() + 60_000, updated_at: Date.now() });
    const locked = await send(l, phone);
    assert.ok('refusal' in locked && locked.refusal.limit === 'failureBudget');
    assert.equal(l.lockReads(), 1);
  });

  it("the hint never lowers its row's expiry nor touches its slots, and is gone once that expiry has passed", async (t) => {
    const l = await limitsOf(t, db(), { sendCooldownSeconds: 60, sendsPerNumber: { max: 5, windowSeconds: 3600 } });
    const phone = '+359871400006';
    assert.ok('admitted' in (await send(l, phone)));
    const taken = await numberRow(db().knex, phone);
    await l.set.hintLock(phone, 1);
    const hinted = await numberRow(db().knex, phone);
    assert.deepEqual({ ...hinted, points: 0 }, { ...taken, points: 0 }, 'slots and expiry as they were');
    assert.ok(Number(hinted?.points) * 60_000 > Date.now());
    const [result] = await l.set.take([l.set.named('sendsPerNumber', phone, phone)]);
    assert.equal(result?.result.hinted, true);
    assert.equal(result?.result.consumed, 2);
    // The row's own expiry passes (its windows ended): the next take starts afresh, without the hint.
    await db().knex(DEFAULT_TABLES.limits).where('key', `n:${phone}`).update({ expire: Date.now() - 1, expire_1: Date.now() - 1, expire_3: Date.now() - 1 });
    const [fresh] = await l.set.take([l.set.named('sendsPerNumber', phone, phone)]);
    assert.equal(fresh?.result.hinted, undefined);
    assert.equal(fresh?.result.consumed, 1);
    assert.equal(Number((await numberRow(db().knex, phone))?.points), 0);
  });
});

forEachDatabase('lock hints migration (0014)', (db) => {
  it('gives the locks that already hold a hint as long as the lock, and none to anything else', async (t) => {
    const l = await limitsOf(t, db(), { sendCooldownSeconds: false, failureBudget: { failures: 3, lockSeconds: 600 }, verifyLock: { failures: 2, windowSeconds: 60, lockSeconds: 60 } });
    const now = Date.now();
    const [byCode, byBudget, ended, sent] = ['+359871400011', '+359871400012', '+359871400013', '+359871400014'];
    // Locks as a previous version wrote them: no hint.
    await db().knex(DEFAULT_TABLES.limits).insert([
      { key: `vl:${byCode}`, points: 3, expire: now + 300_000 },
      { key: `vl:${ended}`, points: 3, expire: now - 1_000 },
    ]);
    await db().knex(DEFAULT_TABLES.failures).insert({ phone: byBudget, failures: 3, locked_until: now + 900_000, updated_at: now });
    assert.ok('admitted' in (await send(l, sent)));
    const slots = await numberRow(db().knex, sent);
    assert.ok('admitted' in (await send(l, byCode)), 'without a hint the lock is not read');
    await db().knex(DEFAULT_TABLES.limits).where('key', `n:${byCode}`).del();

    await lockHintsMigration(DEFAULT_TABLES).up(db().knex);
    const hintOf = async (phone: string) => Number((await numberRow(db().knex, phone))?.points ?? 0) * 60_000;
    assert.ok((await hintOf(byCode)) >= now + 300_000);
    assert.ok((await hintOf(byBudget)) >= now + 900_000);
    assert.ok(Number((await numberRow(db().knex, byBudget))?.expire) >= now + 900_000);
    assert.equal(await numberRow(db().knex, ended), undefined, 'an ended lock gets none');
    assert.deepEqual(await numberRow(db().knex, sent), slots, 'a number with no lock is untouched');
    const refused = [await send(l, byCode), await send(l, byBudget)];
    assert.deepEqual(refused.map((r) => ('refusal' in r ? r.refusal.limit : 'admitted')), ['verifyLock', 'failureBudget']);
  });
});
