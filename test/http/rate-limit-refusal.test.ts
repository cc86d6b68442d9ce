/** A real refusal through the router: 429 with Retry-After and the IETF RateLimit fields of the limit that refused. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import express from 'express';
import request from 'supertest';
import { otpRouter } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';

forEachDatabase('router: refusals as RateLimit headers', (db) => {
  it('a send inside the cooldown answers 429 naming the cooldown in RateLimit and RateLimit-Policy, not in the body', async () => {
    const kit = await createTestKit(db(), { limits: { sendCooldownSeconds: 60 } });
    const app = express().use('/otp', otpRouter(kit.otp));
    await request(app).post('/otp/sms').send({ phone: '+359871700001' }).expect(202);
    const refused = await request(app).post('/otp/sms').send({ phone: '+359871700001' }).expect(429);
    assert.equal(refused.headers['retry-after'], '60');
    assert.equal(refused.headers['ratelimit'], '"sendCooldownSeconds";r=0;t=60');
    assert.equal(refused.headers['ratelimit-policy'], '"sendCooldownSeconds";q=1;w=60');
    assert.deepEqual(Object.keys(refused.body.error as object).sort(), ['code', 'message', 'retryAfter']);
    const quiet = express().use('/otp', otpRouter(kit.otp, { standardHeaders: false }));
    const plain = await request(quiet).post('/otp/sms').send({ phone: '+359871700001' }).expect(429);
    assert.equal(plain.headers['ratelimit'], undefined);
  });
});
