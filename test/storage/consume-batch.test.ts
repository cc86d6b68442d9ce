/**
 * Consumes of concurrent verifies share one statement (group commit) on every database and still
 * answer exactly what one statement per verify did: a request is consumed once, by one caller, only
 * while live, under its cap and its number's failure budget. MariaDB has no UPDATE … RETURNING, so
 * there a short count is explained by the batch's own spent digest.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { SPENT_DIGEST_PATTERN } from '../../lib/storage/request-row.js';
import { consumeMany } from '../../lib/storage/verify-queries.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';

// Valid Bulgarian mobile numbers (+359 87 2xx xxxx), one per index.
const phoneOf = (i: number): string => `+359872${String(1_000_000 + i).slice(1)}`;

forEachDatabase('batched consumes', (db) => {
  it('consumeMany consumes the live requests of a batch and answers false for the others, each under its own conditions', async () => {
    const kit = await createTestKit(db());
    const t = kit.otp.config.tables;
    const phones = [0, 1, 2, 3, 4, 5].map(phoneOf);
    for (const phone of phones) await kit.otp.sendSms(phone);
    const ids = new Map<string, number>();
    const found: Array<{ id: unknown; phone: string }> = await db().knex(t.requests).whereIn('phone', phones).select('id', 'phone');
    for (const r of found) ids.set(r.phone, Number(r.id));
    const id = (i: number): number => ids.get(phones[i] ?? '') ?? 0;
    const now = kit.clock.now();
    // 3: expired; 4: already verified; 5: at its attempt cap (5 attempts of 5).
    await db().knex(t.requests).where('id', id(3)).update({ expires_at: now - 1 });
    await db().knex(t.requests).where('id', id(4)).update({ verify_status: 'verified' });
    await db().knex(t.requests).where('id', id(5)).update({ attempts: 5 });
    await db().knex(t.failures).insert({ phone: phones[2], failures: 100, locked_until: null, updated_at: now });

    const item = (i: number, budget = false) => ({ id: id(i), now, maxAttempts: 5, attemptCounted: false, ...(budget ? { budget: { phone: phones[i] ?? '', max: 100 } } : {}) });
    assert.deepEqual(await consumeMany(db().knex, t, [item(0), item(1), item(3), item(4), item(5)]), [true, true, false, false, false]);
    // The failure budget: number 2's is spent, so only a batch without the condition may consume it.
    assert.deepEqual(await consumeMany(db().knex, t, [item(2, true)]), [false]);
    // An attempt already reserved (a provider-checked code) may sit at the cap.
    assert.deepEqual(await consumeMany(db().knex, t, [{ ...item(5), attemptCounted: true }, item(2)]), [true, true]);

    const rows: Array<Record<string, unknown>> = await db().knex(t.requests).whereIn('phone', phones).orderBy('phone').select('phone', 'verify_status', 'code_digest', 'code_cipher', 'verified_at');
    assert.deepEqual(rows.map((r) => r.verify_status), ['verified', 'verified', 'verified', 'pending', 'verified', 'verified']);
    for (const r of rows.filter((row) => row.phone !== phones[3] && row.phone !== phones[4])) {
      assert.match(String(r.code_digest), SPENT_DIGEST_PATTERN, `${String(r.phone)}: the digest is spent`);
      assert.equal(r.code_cipher, null);
      assert.equal(Number(r.verified_at), now);
    }
  });

  it('concurrent verifies of different requests share their consume statements, and each is consumed once', async (t) => {
    const kit = await createTestKit(db());
    const n = 30;
    const phones = Array.from({ length: n }, (_, i) => phoneOf(100 + i));
    const codes = new Map<string, string>();
    for (const phone of phones) codes.set(phone, (await kit.otp.sendSms(phone)).code ?? '');
    let consumes = 0;
    const onQuery = (q: { sql?: string }): void => {
      if (/^update .* set [`"]?verify_status[`"]? = (\?|\$1)/i.test(q.sql ?? '')) consumes += 1;
    };
    db().knex.on('query', onQuery);
    try {
      const results = await Promise.all(phones.map((phone) => kit.otp.verify(phone, codes.get(phone) ?? '')));
      assert.deepEqual(results.map((r) => r.codeValid), phones.map(() => true));
    } finally {
      db().knex.off('query', onQuery);
    }
    t.diagnostic(`${n} concurrent verifies: ${consumes} consume statements`);
    assert.ok(consumes >= 1 && consumes < n / 2, `${consumes} consume statements for ${n} verifies: they must share statements`);
    const again = await Promise.all(phones.slice(0, 3).map((phone) => kit.otp.verify(phone, codes.get(phone) ?? '')));
    assert.deepEqual(again.map((r) => r.codeValid), [false, false, false], 'a consumed code never verifies again');
  });

  it('concurrent verifies of one request with the right code: exactly one wins, in or across batches', async () => {
    const kit = await createTestKit(db());
    const phone = phoneOf(200);
    const { code } = await kit.otp.sendSms(phone);
    const results = await Promise.all(Array.from({ length: 12 }, () => kit.otp.verify(phone, code ?? '')));
    assert.equal(results.filter((r) => r.codeValid).length, 1, 'one verify consumed the code');
    const tokens = results.filter((r) => r.token !== undefined);
    assert.equal(tokens.length, 1, 'one token was issued');
  });
});
