/** otpRouter() with no argument builds the service from the environment, like hitrix's ServiceProviderOTP(). */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import express from 'express';
import request from 'supertest';
import { createOtp, otpRouter } from '../../lib/index.js';

const file = join(tmpdir(), `otp-env-${process.pid}.sqlite`);
after(() => {
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
});

describe('otpRouter() from the environment', () => {
  it('answers a clear 500 before migration, then serves the flow from env settings', async () => {
    process.env.DATABASE_URL = `sqlite:${file}`;
    process.env.OTP_SECRET = 'env-secret-env-secret-env-secret-env-secret';
    process.env.OTP_SMS_PROVIDER = 'Console';
    const errors: string[] = [];
    const originalError = console.error;
    console.error = (...args: unknown[]) => errors.push(args.join(' '));
    const router = otpRouter();
    after(() => router.otp.close());
    const app = express().use('/otp', router);
    try {
      const early = await request(app).post('/otp/sms').set('Content-Type', 'application/json').send({ phone: '+359871234567' });
      assert.equal(early.status, 500);
    } finally {
      console.error = originalError;
    }
    assert.ok(errors.some((line) => line.includes('otp.migrate()')), 'the log says how to fix it');

    const admin = createOtp();
    await admin.migrate();
    await admin.close();

    // The Console provider prints to stdout; capture only while the send runs (node:test reports on stdout too).
    const printed: string[] = [];
    const originalWrite = process.stdout.write.bind(process.stdout);
    process.stdout.write = (chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    };
    try {
      await request(app).post('/otp/sms').set('Content-Type', 'application/json').send({ phone: '+359871234567' }).expect(202);
    } finally {
      process.stdout.write = originalWrite;
    }
    const code = /OTP ([0-9]{6}) for/.exec(printed.join(''))?.[1];
    assert.ok(code !== undefined, 'the Console provider printed the code');
    const ok = await request(app).post('/otp/verify').set('Content-Type', 'application/json').send({ phone: '+359871234567', code }).expect(200);
    assert.equal(ok.body.codeValid, true);
  });
});
