/**
 * Hostile input over HTTP: strict schemas, one canonical phone form, no objects where scalars go,
 * a body size cap, no secrets from the query string, and a fast-check fuzz of thousands of
 * generated requests that may only ever be answered with the contract's statuses (never 5xx).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DB_KINDS } from '../helpers/db.js';
import { onAttackDatabases, postSend, postVerify, requestRows, urlOf, wrongCode, attackAppStarter } from './helpers/attack-app.js';
import { freshMobile } from './helpers/numbers.js';

const FUZZ_DB = DB_KINDS.includes('mysql') ? 'mysql' : DB_KINDS[0];
/** What the contract allows a client to see; everything else (5xx above all) is a bug. */
const ALLOWED = new Set([200, 202, 400, 413, 415, 422, 429]);

onAttackDatabases('attack: hostile input over HTTP', (db, kind) => {
  const start = attackAppStarter(db);

  it('#17 letters, empty input, more than 15 digits and invalid numbers get 400 naming the phone field', async () => {
    const app = await start();
    for (const phone of ['', '+', 'abc', '+35987123456a', '+1234567890123456', '+35987123456', '+15550100000', '12345', '0871234567', '+359 87 123 4567 ext 9']) {
      const res = await postSend(app, phone);
      assert.equal(res.status, 400, JSON.stringify(phone));
      assert.equal(res.body.error.code, 'VALIDATION_FAILED');
      assert.equal(res.body.error.field, 'phone');
    }
    assert.equal(app.sends.length, 0);
  });

  it('#34 input containing CR/LF (log injection) is rejected', async () => {
    const app = await start();
    for (const phone of ['+359871234567\r\n', '+359871234567\nINFO forged line', '\r+359871234567']) {
      assert.equal((await postSend(app, phone)).status, 400, JSON.stringify(phone));
    }
    assert.equal((await postSend(app, '+359871234567', { purpose: 'login\r\nx' })).status, 400);
    assert.equal(app.sends.length, 0);
    assert.ok(app.logs.every((line) => !line.includes('forged line')));
  });

  it('#18 objects and arrays where a scalar goes, bracket keys, form bodies and SQL get 400/415; knex ≥ 2.4.0', async () => {
    const app = await start();
    const phone = freshMobile();
    await postSend(app, phone).expect(202);
    const bodies: unknown[] = [
      { phone: { phone: 'x' } },
      { phone: [phone] },
      { phone, code: ['123456'] },
      { phone, code: { $gt: '' } },
      { phone, code: 123456 },
      { 'phone[]': phone },
      { phone: "' OR 1=1 --" },
      { phone: `${phone}' OR '1'='1` },
      { phone, code: "' OR 1=1 --" },
      [phone],
      'phone',
      null,
      { phone, extra: 1 },
    ];
    for (const body of bodies) {
      const path = typeof body === 'object' && body !== null && 'code' in body ? '/otp/verify' : '/otp/sms';
      const res = await app.http.post(path).set('Content-Type', 'application/json').send(JSON.stringify(body));
      assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}`);
      assert.equal(res.body.error.code, 'VALIDATION_FAILED');
    }
    const form = await app.http.post('/otp/sms').set('Content-Type', 'application/x-www-form-urlencoded').send(`phone[]=${encodeURIComponent(phone)}`);
    assert.equal(form.status, 415);
    assert.equal(app.sends.length, 1);
    // The request of `phone` is untouched by all of this.
    await postVerify(app, phone, app.codeFor(phone)).expect(200);
    const knexVersion = (createRequire(import.meta.url)('knex/package.json') as { version: string }).version;
    const [major = 0, minor = 0] = knexVersion.split('.').map(Number);
    assert.ok(major > 2 || (major === 2 && minor >= 4), `knex ${knexVersion} has the CVE-2016-20018 fix`);
  });

  it('#19 a 10 kB body gets 413 and writes no row', async () => {
    const app = await start();
    const phone = freshMobile();
    const res = await app.http.post('/otp/sms').set('Content-Type', 'application/json').send(JSON.stringify({ phone, pad: 'x'.repeat(10_000) }));
    assert.equal(res.status, 413);
    assert.equal(res.body.error.code, 'PAYLOAD_TOO_LARGE');
    assert.equal((await requestRows(app, phone)).length, 0);
    assert.equal(app.sends.length, 0);
  });

  it('#20 a ?code= query parameter is ignored', async () => {
    const app = await start();
    const phone = freshMobile();
    await postSend(app, phone).expect(202);
    const code = app.codeFor(phone);
    const noBodyCode = await app.http.post(`/otp/verify?code=${code}`).set('Content-Type', 'application/json').send({ phone });
    assert.equal(noBodyCode.status, 400);
    assert.equal(noBodyCode.body.error.field, 'code');
    const wrongBody = await app.http.post(`/otp/verify?code=${code}&phone=${encodeURIComponent(phone)}`).set('Content-Type', 'application/json').send({ phone, code: wrongCode(code) });
    assert.equal(wrongBody.body.error.code, 'OTP_INVALID');
    await postVerify(app, phone, code).expect(200);
  });

  describe('fuzz', { skip: kind === FUZZ_DB ? false : `the fuzz runs once, on ${FUZZ_DB ?? 'no database'}` }, () => {
    it('#17 #18 #19 fast-check: thousands of generated requests to /sms, /call and /verify get only 200/202/400/413/415/422/429, never 5xx', async () => {
      const app = await start({ limits: { sendsPerIp: { max: 1_000_000 }, verifiesPerIp: { max: 1_000_000 } } }, { env: { TRUST_PROXY: 'loopback' } });
      const base = urlOf(app);
      const valid = ['+359871234567', '+359881000001', '+14155550100', '+447712345678', freshMobile(), '+449098765432', '+870773111632'];
      const phoneLike = fc.oneof(
        fc.constantFrom(...valid),
        fc.constantFrom(...valid).map((p) => p.replace(/(\d{3})/g, '$1 ')),
        fc.constantFrom(...valid).map((p) => `00${p.slice(1)}`),
        fc.stringMatching(/^\+?[0-9 ()./-]{0,24}$/),
        fc.string({ maxLength: 40 }),
        fc.string({ unit: 'grapheme', maxLength: 20 }),
      );
      const codeLike = fc.oneof(fc.stringMatching(/^[0-9]{6}$/), fc.stringMatching(/^[0-9]{0,9}$/), fc.string({ maxLength: 12 }));
      const scalarOrNot = fc.oneof(fc.jsonValue({ maxDepth: 3 }), phoneLike, codeLike);
      const objectBody = fc.record(
        { phone: fc.oneof(phoneLike, scalarOrNot), code: fc.oneof(codeLike, scalarOrNot), purpose: fc.oneof(fc.stringMatching(/^[a-z][a-z0-9._:-]{0,70}$/), scalarOrNot), extra: scalarOrNot },
        { requiredKeys: [] },
      );
      // Well-formed shapes reach the service (limits, destinations, verify); the rest test the schemas.
      const wellFormed = fc.record({ phone: phoneLike, code: codeLike, purpose: fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/) }, { requiredKeys: ['phone'] });
      const body = fc.oneof(
        { weight: 5, arbitrary: wellFormed.map((o) => JSON.stringify(o)) },
        { weight: 5, arbitrary: objectBody.map((o) => JSON.stringify(o)) },
        { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null') },
        { weight: 2, arbitrary: fc.string({ maxLength: 200 }) },
        { weight: 1, arbitrary: fc.nat({ max: 8_000 }).map((n) => JSON.stringify({ phone: valid[0], pad: 'y'.repeat(n) })) },
      );
      const contentType = fc.oneof(
        { weight: 8, arbitrary: fc.constant('application/json') },
        { weight: 2, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'application/json; charset=utf-16', 'text/plain', 'application/x-www-form-urlencoded', 'application/vnd.api+json', 'multipart/form-data; boundary=x', '') },
      );
      const forwardedFor = fc.oneof(fc.constant(undefined), fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 80 }).filter((s) => !/[\r\n]/.test(s)));
      const path = fc.constantFrom('/otp/sms', '/otp/call', '/otp/verify');

      const seen = new Map<number, number>();
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(path, body, contentType, forwardedFor, async (p, b, type, xff) => {
          runs += 1;
          const headers: Record<string, string> = {};
          if (type !== '') headers['content-type'] = type;
          if (xff !== undefined) headers['x-forwarded-for'] = xff;
          const res = await fetch(base + p, { method: 'POST', headers, body: b });
          const text = await res.text();
          seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
          if (!ALLOWED.has(res.status)) throw new Error(`${res.status} for POST ${p} ${type} ${JSON.stringify(b).slice(0, 300)}: ${text.slice(0, 300)}`);
          const json = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
          if (res.status >= 400) {
            if (typeof json.error?.code !== 'string' || typeof json.error.message !== 'string') throw new Error(`no error body: ${text}`);
            if (/\bat .+:\d+:\d+/.test(text)) throw new Error(`stack trace in ${text}`);
          }
        }),
        { numRuns: 5000, interruptAfterTimeLimit: 40_000 },
      );
      console.log(`# fuzz: ${runs} requests, statuses ${JSON.stringify(Object.fromEntries([...seen].sort((a, b) => a[0] - b[0])))}`);
      assert.ok(runs >= 1000, `only ${runs} requests ran in the time limit`);
      for (const status of [202, 400, 413, 415, 422, 429]) assert.ok((seen.get(status) ?? 0) > 0, `no ${status} among ${JSON.stringify(Object.fromEntries(seen))}`);
      assert.ok(app.logs.every((line) => !/otp request failed unexpectedly/.test(line)), 'no unexpected error was logged');
    });
  });
});
