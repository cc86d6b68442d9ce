/**
 * Fraud guard, renewing holds and their release (issue 25), across two instances on one database:
 * the breaker's hold of a range is renewed (doubling, up to the cap) while the range's conversion
 * stays low, released early when its codes are verified again, and lifted by `otp.release()` and by
 * `express-otp-kit holds release`; `otp.holds()` lists range holds and number locks (masked).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { EXIT, type CliIo } from '../../lib/cli/io.js';
import { runCli } from '../../lib/cli/run.js';
import { forEachDatabase, type TestDatabase } from '../helpers/db.js';
import { TEST_SECRET } from '../helpers/kit.js';
import { errorOf, fraudKit, QUIET_LIMITS, type FraudKit } from './helpers/fraud-kit.js';
import { freshRange, mobile } from './helpers/numbers.js';

const WEBHOOK = { url: 'http://127.0.0.1:9/hook', secret: `whsec_${Buffer.alloc(32, 7).toString('base64')}` };
const BREAKER = { minSends: 4, minRatio: 0.5, checkEvery: 2, holdSeconds: 60, hiddenDigits: 4, windowSeconds: 3600, maxHoldSeconds: 200 };
const OPTIONS = { limits: { ...QUIET_LIMITS, conversionBreaker: BREAKER }, webhooks: WEBHOOK };

const rangeOf = (block: number): string => mobile(block, 0).slice(0, -4);

async function cli(db: TestDatabase, argv: readonly string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { env: { NODE_ENV: 'test', OTP_SECRET: TEST_SECRET, DATABASE_URL: db.url }, out: (l) => out.push(l), err: (l) => err.push(l) };
  return { code: await runCli(argv, io), out, err };
}

/** Sends to numbers of the range from `kit` until the breaker holds it (on a new range the 6th send judges 5 stored, none verified). */
async function trip(kit: FraudKit, block: number, from: number): Promise<number> {
  const before = kit.eventsNamed('range-held').length;
  for (let i = from; i < from + 20; i += 1) {
    await kit.otp.sendSms(mobile(block, i));
    if (kit.eventsNamed('range-held').length > before) return i - from + 1;
  }
  assert.fail('the range was never held');
}

/** Each test starts with no holds and no counters (tests of a file share its database). */
async function fresh(db: TestDatabase): Promise<void> {
  for (const table of ['otp_holds', 'otp_limits', 'otp_failures', 'otp_webhooks']) if (await db.knex.schema.hasTable(table)) await db.knex(table).del();
}

async function retryAfterOf(kit: FraudKit, phone: string): Promise<number> {
  const error = await errorOf(() => kit.otp.sendSms(phone));
  assert.equal(error.code, 'RATE_LIMITED');
  return Number(error.details.retryAfter);
}

async function outboxTypes(db: TestDatabase, kit: FraudKit): Promise<string[]> {
  const rows = await db.knex(kit.otp.config.tables.webhooks).orderBy('id').select<{ event_type: string; body: string }[]>('event_type', 'body');
  return rows.map((r) => r.event_type);
}

forEachDatabase('fraud guard: renewing holds, release by API and CLI', (db) => {
  it('a hold renews (doubling up to the cap) while conversion stays low, across two instances; released by API, then by CLI', async () => {
    await fresh(db());
    const a = await fraudKit(db(), OPTIONS);
    const b = await fraudKit(db(), OPTIONS);
    const block = freshRange();
    const range = rangeOf(block);
    assert.equal(await trip(a, block, 0), 6);
    assert.deepEqual(a.eventsNamed('range-held').map((e) => [e.range, e.level, e.holdSeconds]), [[range, 1, 60]]);
    const first = await retryAfterOf(b, mobile(block, 50));
    assert.ok(first > 55 && first <= 60, `first hold ${first}s`);
    // Instance B keeps getting sends to the held range: every 2nd one judges it again, still 0 of 6 verified.
    await errorOf(() => b.otp.sendSms(mobile(block, 51)));
    assert.deepEqual(b.eventsNamed('range-held').map((e) => [e.level, e.holdSeconds]), [[2, 120]]);
    const second = await retryAfterOf(a, mobile(block, 52));
    assert.ok(second > 115 && second <= 120, `renewed hold ${second}s`);
    await errorOf(() => a.otp.sendSms(mobile(block, 53)));
    await errorOf(() => b.otp.sendSms(mobile(block, 54)));
    await errorOf(() => b.otp.sendSms(mobile(block, 55)));
    const levels = [...a.eventsNamed('range-held'), ...b.eventsNamed('range-held')].map((e) => [e.level, e.holdSeconds]).sort((x, y) => (x[0] ?? 0) - (y[0] ?? 0));
    assert.deepEqual(levels, [[1, 60], [2, 120], [3, 200], [4, 200]], 'doubling, capped at maxHoldSeconds');
    const holds = await b.otp.holds();
    assert.equal(holds.length, 1);
    const [hold] = holds;
    assert.equal(hold?.kind, 'range');
    assert.equal(hold?.target, range);
    assert.equal(hold?.reason, 'conversionBreaker (renewed 3x)');
    const until = Date.parse(hold?.until ?? '') - Date.now();
    assert.ok(until > 190_000 && until <= 200_000, `until in ${until} ms`);
    assert.ok(Date.parse(hold?.since ?? '') <= Date.now() - 0 && Date.now() - Date.parse(hold?.since ?? '') < 60_000);

    // Released by the API on instance A: B sends to the range again.
    const released = await a.otp.release(range);
    assert.deepEqual(released, { released: true, kind: 'range', target: range, reason: 'conversionBreaker' });
    assert.deepEqual(a.eventsNamed('hold-released'), [{ kind: 'range', target: range, reason: 'released', by: 'operator' }]);
    assert.deepEqual(await a.otp.holds(), []);
    await b.otp.sendSms(mobile(block, 60));
    assert.deepEqual(await a.otp.release(range), { released: false, kind: 'range', target: range, reason: 'not-held' }, 'a second release finds nothing');
    const types = await outboxTypes(db(), a);
    assert.ok(types.includes('otp.range_held') && types.includes('otp.hold_released'), types.join(','));

    // Held again (a released range starts over at level 1; its unverified sends still count), then released by the CLI.
    await trip(b, block, 70);
    assert.equal(b.eventsNamed('range-held').at(-1)?.level, 1);
    await errorOf(() => a.otp.sendSms(mobile(block, 80)));
    const listed = await cli(db(), ['holds', 'list', '--json']);
    assert.equal(listed.code, EXIT.ok, listed.err.join('\n'));
    const json = JSON.parse(listed.out.join('')) as { holds: { kind: string; target: string }[] };
    assert.deepEqual(json.holds.map((h) => [h.kind, h.target]), [['range', range]]);
    const text = await cli(db(), ['holds', 'list']);
    assert.match(text.out.join('\n'), new RegExp(`range\\s+\\${range}\\s+conversionBreaker`));
    const ran = await cli(db(), ['holds', 'release', range]);
    assert.equal(ran.code, EXIT.ok, ran.err.join('\n'));
    assert.equal(ran.out.join('\n'), `Released the range ${range} (conversionBreaker).`);
    await a.otp.sendSms(mobile(block, 81));
    assert.deepEqual(await b.otp.holds(), []);
    const again = await cli(db(), ['holds', 'release', range, '--json']);
    assert.deepEqual(JSON.parse(again.out.join('')), { released: false, kind: 'range', target: range, reason: 'not-held' });
  });

  it('a held range is released early once its codes are verified again', async () => {
    await fresh(db());
    const kit = await fraudKit(db(), OPTIONS);
    const block = freshRange();
    await trip(kit, block, 0);
    assert.equal((await kit.otp.holds()).length, 1);
    // 6 stored sends: verifying 3 of them brings the conversion back to the 0.5 minimum.
    for (let i = 0; i < 3; i += 1) {
      assert.equal(kit.eventsNamed('hold-released').length, 0, `still held after ${i} verified`);
      const result = await kit.otp.verify(mobile(block, i), kit.codeFor(mobile(block, i)));
      assert.equal(result.codeValid, true);
    }
    assert.deepEqual(kit.eventsNamed('hold-released'), [{ kind: 'range', target: rangeOf(block), reason: 'conversion-recovered', by: 'conversion' }]);
    assert.deepEqual(await kit.otp.holds(), []);
    await kit.otp.sendSms(mobile(block, 40));
  });

  it('number locks are listed masked and released by number; bad input is a 400, an unknown target a plain answer', async () => {
    await fresh(db());
    const kit = await fraudKit(db(), { limits: { ...QUIET_LIMITS, verifyLock: { failures: 2, lockSeconds: 60 } }, webhooks: WEBHOOK });
    const phone = mobile(freshRange(), 9);
    await kit.otp.sendSms(phone);
    const wrong = kit.codeFor(phone) === '000000' ? '111111' : '000000';
    await kit.otp.verify(phone, wrong);
    await kit.otp.verify(phone, wrong);
    assert.equal((await errorOf(() => kit.otp.verify(phone, kit.codeFor(phone)))).code, 'RATE_LIMITED', 'locked');
    const holds = await kit.otp.holds();
    assert.equal(holds.length, 1);
    assert.equal(holds[0]?.kind, 'number');
    assert.equal(holds[0]?.reason, 'verifyLock');
    assert.ok(!JSON.stringify(holds).includes(phone), 'masked');
    assert.ok(Date.parse(holds[0]?.until ?? '') - Date.parse(holds[0]?.since ?? '') === 60_000);
    const released = await kit.otp.release(phone);
    assert.equal(released.released, true);
    assert.equal(released.kind, 'number');
    assert.ok(!JSON.stringify([released, kit.eventsNamed('hold-released')]).includes(phone), 'masked in the result and the event');
    assert.equal((await kit.otp.verify(phone, kit.codeFor(phone))).codeValid, true, 'the number verifies again');
    const bodies = await db().knex(kit.otp.config.tables.webhooks).where('event_type', 'otp.hold_released').select<{ body: string }[]>('body');
    assert.equal(bodies.length, 1);
    assert.ok(!bodies[0]?.body.includes(phone) && bodies[0]?.body.includes('"kind":"number"'));
    for (const bad of ['', 'abc', '+0123', '12345', '+1234567890123456789', 42, null]) {
      const error = await errorOf(() => kit.otp.release(bad as never));
      assert.equal(error.code, 'VALIDATION_FAILED', String(bad));
    }
    assert.deepEqual(await kit.otp.release('+4915199'), { released: false, kind: 'range', target: '+4915199', reason: 'not-held' });
    const unknown = await kit.otp.release(mobile(freshRange(), 3));
    assert.equal(unknown.released, false);
    assert.equal(unknown.reason, 'not-locked');
    const usage = await cli(db(), ['holds', 'release']);
    assert.equal(usage.code, EXIT.usage);
    const invalid = await cli(db(), ['holds', 'release', 'everything']);
    assert.equal(invalid.code, EXIT.failed);
    assert.match(invalid.err.join('\n'), /number range/);
  });
});
