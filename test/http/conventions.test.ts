/**
 * HTTP conventions of the router: the once-only warning for an untrusted proxy, the IETF
 * `RateLimit`/`RateLimit-Policy` headers on a 429 (draft-ietf-httpapi-ratelimit-headers-08, as
 * express-rate-limit's `standardHeaders: 'draft-8'`), and the redacted summary of unknown errors.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import express, { type NextFunction, type Request, type Response } from 'express';
import request from 'supertest';
import { createExampleApp } from '../../examples/app.js';
import { OtpError, otpErrorHandler, otpRouter } from '../../lib/index.js';
import { rateLimitHeaders } from '../../lib/http/rate-limit-headers.js';
import { UNTRUSTED_PROXY_WARNING } from '../../lib/http/proxy-check.js';
import { safeErrorSummary, scrubText, statementName } from '../../lib/core/safe-error.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { captureLogger, createTestKit } from '../helpers/kit.js';

const json = { 'Content-Type': 'application/json' };
const DRAFT8_RATELIMIT = /^"[A-Za-z0-9_.:-]+";r=0;t=([0-9]+)$/;
const DRAFT8_POLICY = /^"[A-Za-z0-9_.:-]+";q=[0-9]+;w=[0-9]+$/;

void describe('HTTP conventions', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('sqlite');
  });
  after(async () => {
    await db.destroy();
  });

  it('warns once per router, naming the fix, when X-Forwarded-For arrives and trust proxy is off', async () => {
    const kit = await createTestKit(db);
    const app = createExampleApp(kit.otp, {});
    const warnings = () => kit.logs.filter((line) => line.includes(UNTRUSTED_PROXY_WARNING));
    await request(app).get('/otp/openapi.json').expect(200);
    assert.equal(warnings().length, 0, 'no header, no warning');
    for (let i = 0; i < 3; i += 1) {
      await request(app).post('/otp/sms').set(json).set('X-Forwarded-For', `203.0.113.${i + 1}`).send({ phone: `+35987123456${i}` }).expect(202);
    }
    assert.equal(warnings().length, 1, 'logged once');
    const [line] = warnings();
    assert.ok(line?.startsWith('warn '));
    assert.match(line ?? '', /app\.set\('trust proxy'/);
    assert.match(line ?? '', /TRUST_PROXY/);
    assert.doesNotMatch(line ?? '', /203\.0\.113/, 'the address is not logged');
    // Another router of the same kit warns on its own.
    const other = createExampleApp(kit.otp, {});
    await request(other).get('/otp/openapi.json').set('X-Forwarded-For', '203.0.113.9').expect(200);
    assert.equal(warnings().length, 2);
    await kit.otp.close();
  });

  it('does not warn when trust proxy is set', async () => {
    const kit = await createTestKit(db);
    for (const value of ['1', 'loopback', 'true']) {
      const app = createExampleApp(kit.otp, { TRUST_PROXY: value });
      await request(app).get('/otp/openapi.json').set('X-Forwarded-For', '203.0.113.5').expect(200);
    }
    assert.equal(kit.logs.filter((line) => line.includes(UNTRUSTED_PROXY_WARNING)).length, 0);
    await kit.otp.close();
  });

  it('a 429 carries Retry-After and the draft-8 RateLimit header (and a policy when the limit is known)', async () => {
    const kit = await createTestKit(db, { limits: { sendCooldownSeconds: 60 } });
    const app = createExampleApp(kit.otp, {});
    await request(app).post('/otp/sms').set(json).send({ phone: '+359881234567' }).expect(202);
    const res = await request(app).post('/otp/sms').set(json).send({ phone: '+359881234567' }).expect(429);
    assert.equal(res.body.error.code, 'RATE_LIMITED');
    const retryAfter = res.headers['retry-after'];
    assert.match(retryAfter ?? '', /^[0-9]+$/);
    assert.equal(res.body.error.retryAfter, Number(retryAfter));
    const header = res.headers.ratelimit ?? '';
    assert.equal(DRAFT8_RATELIMIT.exec(header)?.[1], retryAfter, `RateLimit: ${header}`);
    const policy = res.headers['ratelimit-policy'];
    if (policy !== undefined) assert.match(policy, DRAFT8_POLICY);
    await kit.otp.close();
  });

  it('standardHeaders: false keeps Retry-After only, on the router and on otpErrorHandler', async () => {
    const kit = await createTestKit(db, { limits: { sendCooldownSeconds: 60 } });
    const app = express();
    app.use('/otp', otpRouter(kit.otp, { standardHeaders: false }));
    app.post('/own', () => {
      throw new OtpError('RATE_LIMITED', undefined, { retryAfter: 7, limit: 'mine', max: 3, windowSeconds: 60 });
    });
    app.use('/off', (_req: Request, _res: Response, next: NextFunction) => next(new OtpError('RATE_LIMITED', undefined, { retryAfter: 7 })), otpErrorHandler({ logger: captureLogger([]), standardHeaders: false }));
    app.use(otpErrorHandler({ logger: captureLogger([]) }));
    await request(app).post('/otp/sms').set(json).send({ phone: '+359881234568' }).expect(202);
    const res = await request(app).post('/otp/sms').set(json).send({ phone: '+359881234568' }).expect(429);
    assert.match(res.headers['retry-after'] ?? '', /^[0-9]+$/);
    assert.equal(res.headers.ratelimit, undefined);
    assert.equal(res.headers['ratelimit-policy'], undefined);

    const own = await request(app).post('/own').expect(429);
    assert.equal(own.headers['retry-after'], '7');
    assert.equal(own.headers.ratelimit, '"mine";r=0;t=7');
    assert.equal(own.headers['ratelimit-policy'], '"mine";q=3;w=60');
    const off = await request(app).post('/off').expect(429);
    assert.equal(off.headers['retry-after'], '7');
    assert.equal(off.headers.ratelimit, undefined);
    await kit.otp.close();
  });

  it('rateLimitHeaders: a policy only when limit, max and windowSeconds are all known', () => {
    const limited = (details: Record<string, unknown>) => rateLimitHeaders(new OtpError('RATE_LIMITED', undefined, details));
    assert.deepEqual(limited({ retryAfter: 42, limit: 'sendsPerNumber', max: 5, windowSeconds: 600 }), {
      RateLimit: '"sendsPerNumber";r=0;t=42',
      'RateLimit-Policy': '"sendsPerNumber";q=5;w=600',
    });
    assert.deepEqual(limited({ retryAfter: 42, limit: 'verifyLock' }), { RateLimit: '"verifyLock";r=0;t=42' });
    assert.deepEqual(limited({ retryAfter: 1.2 }), { RateLimit: '"otp";r=0;t=2' });
    assert.deepEqual(limited({ retryAfter: 5, limit: 'bad"name', max: 5, windowSeconds: 60 }), { RateLimit: '"otp";r=0;t=5' }, 'no quoting tricks');
    assert.deepEqual(limited({ limit: 'sendsPerNumber' }), {}, 'no retry time, no headers');
    assert.deepEqual(rateLimitHeaders(new OtpError('OTP_INVALID', undefined, { retryAfter: 5 })), {});
  });

  it('safeErrorSummary keeps the driver code, errno, SQLSTATE and statement, never SQL text or values', () => {
    const mysql = Object.assign(
      new Error("insert into `otp_requests` (`phone`, `client_ip`) values ('+359871234567', '203.0.113.77') - Data too long for column 'client_ip' at row 1"),
      { code: 'ER_DATA_TOO_LONG', errno: 1406, sqlState: '22001', sqlMessage: "Data too long for column 'client_ip' at row 1", sql: "insert into `otp_requests` (`phone`) values ('+359871234567')" },
    );
    assert.deepEqual(safeErrorSummary(mysql), {
      name: 'Error', code: 'ER_DATA_TOO_LONG', errno: 1406, sqlState: '22001', statement: 'insert otp_requests', reason: "Data too long for column 'client_ip' at row 1",
    });
    const pg = Object.assign(
      new Error('update "otp_requests" set "lease_token" = \'5f0c…\' where "phone" = \'+359871234567\' - duplicate key value violates unique constraint "otp_requests_request_id_unique"'),
      { code: '23505', severity: 'ERROR', detail: 'Key (request_id)=(0b9f1c2e-1111-4222-8333-444455556666) already exists.', table: 'otp_requests', constraint: 'otp_requests_request_id_unique' },
    );
    const summary = safeErrorSummary(pg);
    assert.equal(summary.sqlState, '23505');
    assert.equal(summary.statement, 'update otp_requests');
    assert.equal(summary.constraint, 'otp_requests_request_id_unique');
    assert.equal(summary.reason, "duplicate key value violates unique constraint 'otp_requests_request_id_unique'");
    assert.doesNotMatch(JSON.stringify(summary), /359871234567|0b9f1c2e|5f0c/);

    const plain = safeErrorSummary(new Error('boom for +359871234567 from 203.0.113.9 with token c2VjcmV0LXRva2VuLTEyMzQ1Njc4OQ', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3306'), { code: 'ECONNREFUSED', errno: -111 }) }));
    assert.equal(plain.reason, 'boom for [n] from [address] with token [token]');
    assert.deepEqual(plain.cause, { name: 'Error', code: 'ECONNREFUSED', errno: -111, reason: 'connect ECONNREFUSED [address]:[n]' });
    assert.deepEqual(safeErrorSummary('text with 1234567'), { name: 'string', reason: 'text with [n]' });
    assert.equal(statementName('select * from `otp_limits` where `key` in (?)'), 'select otp_limits');
    assert.equal(statementName('with x as (select 1) select * from x'), 'with');
    assert.equal(statementName('hello'), undefined);
    assert.equal(scrubText("it's 'two words' and \"+359871234567\" and 'c2VjcmV0LXRva2VuLTEyMzQ1Njc4OQ'"), "it's ? and ? and ?");
    // Names and paths stay readable: mask values, not words.
    assert.equal(
      scrubText("Cannot find module 'better-sqlite3'\nRequire stack:\n- /srv/app/node_modules/knex/lib/dialects/better-sqlite3/index.js", 400),
      "Cannot find module 'better-sqlite3' Require stack: - /srv/app/node_modules/knex/lib/dialects/better-sqlite3/index.js",
    );
    assert.equal(scrubText("Duplicate entry '+359871234567-sms' for key 'phone'"), "Duplicate entry ? for key 'phone'");
    assert.equal(scrubText('at /srv/0123456789abcdef0123456789abcdef/x'), 'at /srv/[token]/x');
  });
});
