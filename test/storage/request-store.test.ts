/**
 * The request store with group commit on and off: the same sequence of concurrent calls gives the
 * same answers and leaves the same rows (only ids, tokens and leases differ by construction, and on
 * MariaDB the batch tag in a consumed code's spent digest).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import type { Knex } from 'knex';
import { DEFAULT_TABLES, migrateOtpTables } from '../../lib/storage/migrations.js';
import { createRequestStore, type RequestStore } from '../../lib/storage/request-store.js';
import { SPENT_DIGEST_PATTERN } from '../../lib/storage/request-row.js';
import { forEachDatabase } from '../helpers/db.js';

const NOW = Date.UTC(2026, 11, 3, 12, 0, 0);

/** Ten numbers, two requests each, sent, then verified, counted and spent concurrently. */
async function scenario(knex: Knex, store: RequestStore, prefix: string): Promise<{ answers: unknown[]; rows: Array<Record<string, unknown>> }> {
  const phones = Array.from({ length: 10 }, (_, i) => `+35987${prefix}${String(i).padStart(5, '0')}`);
  const lease = (id: string): string => id;
  const insertOne = async (phone: string, n: number) => {
    const requestId = randomUUID();
    const id = await store.insert({
      requestId, phone, channel: 'sms', purpose: 'login', chain: ['Console'], codeDigest: `digest-${n}`, codeCipher: `cipher-${n}`,
      messageTemplate: 'Your _CODE_', leaseOwner: 'test', leaseToken: lease(requestId), leaseExpiresAt: NOW + 60_000, clientIp: '203.0.113.1',
      expiresAt: NOW + 300_000, now: NOW,
    });
    return { id, requestId, phone };
  };
  const first = await Promise.all(phones.map((p) => insertOne(p, 1)));
  const second = await Promise.all(phones.map((p) => insertOne(p, 2)));
  await Promise.all(second.map((r) => store.supersede(r.phone, r.id, NOW + 1)));
  const marked = await Promise.all(
    second.map((r, i) =>
      store.markSent(
        { id: r.id, leaseToken: i === 0 ? 'not-my-lease' : lease(r.requestId), sendAttempts: 1, provider: 'Console', providerRef: null, codeOwner: 'kit', lastError: null, providerRequest: null, providerResponse: '{"ok":true}' },
        NOW + 60_000,
        NOW + 2,
      ),
    ),
  );
  const found = await Promise.all(phones.map((p) => store.latest(p)));
  const counted = await Promise.all(second.map((r) => store.countAttempt(r.id, NOW + 3, 5)));
  const consumed = await Promise.all(second.map((r, i) => (i % 2 === 0 ? store.consume(r.id, NOW + 4, 5, false) : Promise.resolve(false))));
  const spent = await Promise.all(second.map((r) => store.spendToken(r.requestId, r.phone, 'login', NOW + 5)));
  const answers = [marked, found.map((f) => [f?.row.requestId === second[found.indexOf(f)]?.requestId, f?.row.verifyStatus, f?.locks.counters.size]), counted, consumed, spent, first.length];
  const rows = (await knex(DEFAULT_TABLES.requests).whereIn('phone', phones).orderBy('phone').orderBy('id')) as Array<Record<string, unknown>>;
  const stable = rows.map((r) => {
    const { id: _id, request_id: _rid, lease_token: _lt, phone, code_digest: digest, ...rest } = r;
    const spent = SPENT_DIGEST_PATTERN.test(String(digest));
    return { ...rest, phone: String(phone).slice(-5), lease_token: _lt === null ? null : 'held', code_digest: spent ? 'spent' : digest };
  });
  return { answers, rows: stable };
}

forEachDatabase('request store: batching on and off', (db) => {
  it('gives the same answers and leaves the same rows', async () => {
    await migrateOtpTables(db().knex);
    const on = createRequestStore(db().knex, DEFAULT_TABLES, { batching: true, locks: { counters: ['vl', 'vv'], failureBudget: true } });
    const off = createRequestStore(db().knex, DEFAULT_TABLES, { batching: false, locks: { counters: ['vl', 'vv'], failureBudget: true } });
    const a = await scenario(db().knex, on, '1');
    const b = await scenario(db().knex, off, '2');
    assert.deepEqual(a.answers, b.answers);
    assert.deepEqual(a.rows, b.rows);
    // The lease that was not ours was not written either way; the superseded first requests stay superseded.
    assert.equal((a.answers[0] as boolean[])[0], false);
    assert.equal(a.rows.filter((r) => r.verify_status === 'superseded').length, 10);
    await Promise.all([on.drain(), off.drain()]);
  });

  it('a "sent" mark close to the end of its lease is written alone, and still fenced', async () => {
    await migrateOtpTables(db().knex);
    const store = createRequestStore(db().knex, DEFAULT_TABLES, { batching: true, locks: { counters: [], failureBudget: false } });
    const requestId = randomUUID();
    const id = await store.insert({
      requestId, phone: '+359879999001', channel: 'sms', purpose: 'default', chain: ['Console'], codeDigest: 'd', codeCipher: 'c', messageTemplate: 't',
      leaseOwner: 'test', leaseToken: 'mine', leaseExpiresAt: NOW + 1_000, clientIp: null, expiresAt: NOW + 300_000, now: NOW,
    });
    const mark = { id, leaseToken: 'mine', sendAttempts: 1, provider: 'Console', providerRef: null, codeOwner: 'kit' as const, lastError: null, providerRequest: null, providerResponse: null };
    assert.equal(await store.markSent({ ...mark, leaseToken: 'theirs' }, NOW + 1_000, NOW + 500), false);
    assert.equal(await store.markSent(mark, NOW + 1_000, NOW + 500), true);
    const row = (await db().knex(DEFAULT_TABLES.requests).where({ id }).first()) as Record<string, unknown>;
    assert.deepEqual([row.status, row.lease_token, row.code_cipher], ['sent', null, null]);
  });

  it('lease checks of concurrent attempts share one statement and answer each alone, as one by one', async () => {
    const { knex } = db();
    await migrateOtpTables(knex);
    const insertRow = async (store: RequestStore, n: number): Promise<{ id: number; token: string }> => {
      const token = randomUUID();
      const id = await store.insert({
        requestId: randomUUID(), phone: `+35987900${String(n).padStart(4, '0')}`, channel: 'sms', purpose: 'default', chain: ['Console'], codeDigest: 'd', codeCipher: 'c',
        messageTemplate: 't', leaseOwner: 'test', leaseToken: token, leaseExpiresAt: NOW + 60_000, clientIp: null, expiresAt: NOW + 300_000, now: NOW,
      });
      return { id, token };
    };
    const answersOf = async (store: RequestStore, base: number): Promise<boolean[]> => {
      const [held, takenOver, verified, erased] = await Promise.all([0, 1, 2, 3].map((i) => insertRow(store, base + i)));
      await knex(DEFAULT_TABLES.requests).where({ id: takenOver?.id }).update({ lease_token: 'another-worker' });
      await knex(DEFAULT_TABLES.requests).where({ id: verified?.id }).update({ verify_status: 'verified' });
      await knex(DEFAULT_TABLES.requests).where({ id: erased?.id }).delete();
      const checks: Array<[number, string]> = [
        [held!.id, held!.token], [held!.id, held!.token], [held!.id, 'not-mine'], [takenOver!.id, takenOver!.token],
        [verified!.id, verified!.token], [erased!.id, erased!.token], [2_000_000_000, 'no-such-row'],
      ];
      let statements = 0;
      const count = (): void => {
        statements += 1;
      };
      knex.on('query', count);
      try {
        const answers = await Promise.all(checks.map(([id, token]) => store.holdsLease(id, token)));
        if (store === on) assert.equal(statements, 1, 'the checks of concurrent attempts are one statement');
        return answers;
      } finally {
        knex.removeListener('query', count);
      }
    };
    const on = createRequestStore(knex, DEFAULT_TABLES, { batching: true, locks: { counters: [], failureBudget: false } });
    const off = createRequestStore(knex, DEFAULT_TABLES, { batching: false, locks: { counters: [], failureBudget: false } });
    const expected = [true, true, false, false, false, false, false];
    assert.deepEqual(await answersOf(on, 10), expected);
    assert.deepEqual(await answersOf(off, 20), expected);
    await Promise.all([on.drain(), off.drain()]);
  });
});
