/**
 * Programs and type checks the package tests write into consumer projects. They import only what
 * an app would: express and express-otp-kit (no type augmentation import for `req.otp`).
 */

/** The example flow as an app: createOtp() from the environment, router, dashboard and status router, guard. */
export const APP = `
import { createRequire } from 'node:module';
import express from 'express';
import { createOtp, otpRouter, otpInsightsRouter, otpStatusRouter, requireVerifiedOtp, otpErrorHandler } from 'express-otp-kit';

const otp = createOtp(); // DATABASE_URL, OTP_SECRET, OTP_SMS_PROVIDER and the provider variables
await otp.migrate();
await otp.ready();
const app = express();
app.use('/otp', otpRouter(otp));
app.use('/admin/otp', otpInsightsRouter(otp), otpStatusRouter(otp));
app.post('/account/delete', requireVerifiedOtp(otp, { purpose: 'delete-account' }), (req, res) => res.json({ deleted: true, phone: req.otp.phone }));
app.use(otpErrorHandler());
const server = app.listen(0, '127.0.0.1', () => {
  const express = createRequire(import.meta.url)('express/package.json').version;
  console.log(JSON.stringify({ port: server.address().port, express }));
});
process.on('SIGTERM', () => {
  server.close();
  otp.close().finally(() => process.exit(0));
});
`;

/** createOtp() from the environment: prints whether it started, or the startup error. */
export const STARTUP = `
import { createOtp } from 'express-otp-kit';
try {
  const otp = createOtp();
  console.log(JSON.stringify({ started: true }));
  await otp.close();
} catch (error) {
  console.log(JSON.stringify({ started: false, code: error.code, message: error.message }));
}
`;

/** The same from CommonJS. */
export const STARTUP_CJS = `
const { createOtp } = require('express-otp-kit');
try {
  createOtp().close().then(() => console.log(JSON.stringify({ started: true })));
} catch (error) {
  console.log(JSON.stringify({ started: false, code: error.code, message: error.message }));
}
`;

/** A guarded handler: req.otp is typed (VerifiedOtp | undefined), never any. */
export const TYPES_GUARD = `
import express from 'express';
import { createOtp, otpErrorHandler, otpRouter, otpStatusRouter, requireVerifiedOtp } from 'express-otp-kit';
const otp = createOtp();
const app = express();
app.use('/otp', otpRouter(otp));
app.use('/admin/otp', otpStatusRouter(otp));
app.post('/account/delete', requireVerifiedOtp(otp, { purpose: 'delete-account' }), (req, res) => {
  const phone: string | undefined = req.otp?.phone;
  const verifiedAt: Date | undefined = req.otp?.verifiedAt;
  // @ts-expect-error phone is a string, so req.otp is typed rather than any
  const wrong: number | undefined = req.otp?.phone;
  res.json({ phone, verifiedAt, wrong });
});
app.use(otpErrorHandler());
`;

export const TYPES_CJS = `
import { createOtp, OtpError, type SendResult } from 'express-otp-kit';
const otp = createOtp({ providers: 'Console' });
export const sent: Promise<SendResult> = otp.sendSms({ number: '+359871234567' });
export const isError = (e: unknown): boolean => e instanceof OtpError && e.code === 'OTP_INVALID';
// @ts-expect-error not an error code
export const bad = (e: OtpError): boolean => e.code === 'NOT_A_CODE';
`;

/** tsconfig.json for a consumer: `bundler` (module esnext) or `node16` (.mts and .cts files). */
export function tsconfig(resolution: 'bundler' | 'node16', files: readonly string[]): string {
  const module = resolution === 'bundler' ? 'esnext' : 'node16';
  return JSON.stringify({
    compilerOptions: { module, moduleResolution: resolution, target: 'es2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
    files,
  });
}
