/**
 * Audit 19.2: one oversized client address must not fail a send, nor its neighbours in a
 * group-committed batch. The address is stored as its limit bucket, cut to the column's 64
 * characters; and a batch whose statement fails is run again row by row.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import { DEFAULT_TABLES, migrateOtpTables } from '../../lib/storage/migrations.js';
import { createRequestStore } from '../../lib/storage/request-store.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';

const NOW = Date.UTC(2026, 11, 3, 12, 0, 0);

forEachDatabase('audit 19.2: oversized client address', (db, kind) => {
  it('a 200-character address from a proxy header is stored cut to its bucket and the send succeeds, with its neighbours', async () => {
    const kit = await createTestKit(db());
    const phones = Array.from({ length: 6 }, (_, i) => `+35987150000${i}`);
    const sends = await Promise.all(phones.map((phone, i) => kit.otp.sendSms(phone, { ip: i === 2 ? `${'2001:db8:'.repeat(20)}zz` : `203.0.113.${i + 1}` })));
    assert.deepEqual(sends.map((s) => s.status), phones.map(() => 'sent'));
    const rows = await db().knex<{ phone: string; client_ip: string }>(DEFAULT_TABLES.requests).whereIn('phone', phones).orderBy('phone').select('phone', 'client_ip');
    assert.equal(rows.length, 6);
    assert.ok(rows.every((r) => r.client_ip.length <= 64));
    assert.equal(rows[0]?.client_ip, '203.0.113.1');
  });

  it('a row that fails its insert fails only its own caller; the rest of its batch is written', async () => {
    await migrateOtpTables(db().knex);
    const store = createRequestStore(db().knex, DEFAULT_TABLES, { batching: true, locks: { counters: [], failureBudget: false } });
    const insert = (i: number, clientIp: string) =>
      store.insert({
        requestId: randomUUID(), phone: `+35987160000${i}`, channel: 'sms', purpose: 'default', chain: ['Console'], codeDigest: 'd', codeCipher: 'c', messageTemplate: 't',
        leaseOwner: 'test', leaseToken: randomUUID(), leaseExpiresAt: NOW + 60_000, clientIp, expiresAt: NOW + 300_000, now: NOW,
      });
    const settled = await Promise.allSettled([0, 1, 2, 3, 4].map((i) => insert(i, i === 3 ? 'x'.repeat(100) : '203.0.113.1')));
    const expected = settled.map((_r, i) => (i === 3 && kind !== 'sqlite' ? 'rejected' : 'fulfilled'));
    assert.deepEqual(settled.map((r) => r.status), expected, 'SQLite does not enforce VARCHAR lengths; MariaDB and PostgreSQL refuse the one row');
    const written = await db().knex(DEFAULT_TABLES.requests).where('phone', 'like', '+35987160000%').count({ n: '*' }).first();
    assert.equal(Number((written as { n: unknown }).n), kind === 'sqlite' ? 5 : 4);
    await store.drain();
  });
});
