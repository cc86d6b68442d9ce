/**
 * The example app of the contract: the OTP router at /otp, a page at / to try the flow in a
 * browser, and POST /account/delete guarded by requireVerifiedOtp. With OTP_ADMIN_TOKEN set, the
 * operator views at /admin/otp (dashboard page at /admin/otp/, JSON at /admin/otp/insights,
 * /holds, /provider-health, /requests, /retry-queue, /providers) behind `requireAdminToken`
 * (examples/admin-auth.ts). Built by a function so tests drive exactly this app over HTTP.
 */
import { readFileSync } from 'node:fs';
import express, { type Express } from 'express';
import { otpErrorHandler, otpInsightsRouter, otpRouter, otpStatusRouter, requireVerifiedOtp, type Otp } from '../lib/index.js';
import { requireAdminToken } from './admin-auth.js';

const PAGE = readFileSync(new URL('./public/index.html', import.meta.url), 'utf8');

/** `TRUST_PROXY` as Express understands it: true/false, a hop count, or names/CIDRs (`loopback`, `10.0.0.0/8`). */
export function parseTrustProxy(value: string | undefined): boolean | number | string {
  if (value === undefined || value === '' || /^(false|0|off|no)$/i.test(value)) return false;
  if (/^(true|on|yes)$/i.test(value)) return true;
  if (/^[0-9]+$/.test(value)) return Number(value);
  return value;
}

/** The workflow the page's purpose gets, in the short form (`sms:60,call`), or '' for none. */
function pageWorkflow(otp: Otp, purpose: string): string {
  const { workflow, workflowByPurpose } = otp.config;
  const plan = Object.hasOwn(workflowByPurpose, purpose) ? workflowByPurpose[purpose] : workflow;
  if (plan === null || plan === undefined) return '';
  return plan.map((s) => (s.timeoutSeconds === null ? s.channel : `${s.channel}:${s.timeoutSeconds}`)).join(',');
}

export function createExampleApp(otp: Otp, env: Readonly<Record<string, string | undefined>> = process.env): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', parseTrustProxy(env.TRUST_PROXY));

  // The page offers "call me instead" once the kit's channel-switch cooldown is over.
  const switchAfter = otp.config.limits.channelSwitchCooldownSeconds === false ? 0 : otp.config.limits.channelSwitchCooldownSeconds;
  // With an escalation workflow (`workflow` option or OTP_WORKFLOW, e.g. `sms:60,call`) the page
  // says what follows when the code does not arrive ("We'll call you if the code doesn't arrive").
  const workflow = pageWorkflow(otp, 'delete-account');
  const page = PAGE.replace('<html lang="en">', `<html lang="en" data-switch-after="${switchAfter}" data-workflow="${workflow}">`);
  app.get('/', (_req, res) => {
    res.setHeader('Content-Security-Policy', "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'");
    res.type('html').send(page);
  });
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });

  app.use('/otp', otpRouter(otp));

  app.post('/account/delete', requireVerifiedOtp(otp, { purpose: 'delete-account' }), (req, res) => {
    res.json({ deleted: true, phone: req.otp?.phone });
  });

  // Operator views: the dashboard first (its page answers at /admin/otp/), then the status JSON.
  if (env.OTP_ADMIN_TOKEN !== undefined && env.OTP_ADMIN_TOKEN !== '') {
    app.use('/admin/otp', requireAdminToken(env.OTP_ADMIN_TOKEN), otpInsightsRouter(otp), otpStatusRouter(otp));
  }

  app.use(otpErrorHandler({ logger: otp.config.logger }));
  return app;
}
