/**
 * Step-up verification before a sensitive action: a signed-in user must prove they still hold the
 * phone on file before changing the account their payouts go to. Also shows the operator side:
 * Prometheus metrics at /metrics and the read-only status views at /admin/otp, both behind an
 * (example) admin bearer token.
 *
 *   OTP_SECRET=... ADMIN_TOKEN=some-long-random-string npx tsx examples/step-up.ts
 *
 * Configured by the same environment as the basic app (DATABASE_URL, OTP_SMS_PROVIDER, provider
 * credentials…); with nothing set it runs on SQLite with the Console provider, which prints codes.
 *
 * The client flow (try it with curl; the "session" here is the X-Demo-User header):
 *   1. POST /account/payout/step-up           X-Demo-User: alice
 *        → the server sends a code to the number on file (purpose "change-payout");
 *   2. POST /otp/verify  {"phone":"+359871234567","code":"123456","purpose":"change-payout"}
 *        → 200 {"token": "..."}; the token is short-lived, single-use and bound to that purpose;
 *   3. PUT /account/payout  {"iban":"BG80BNBG96611020345678"}
 *        X-Demo-User: alice, X-OTP-Token: <token>   (or Authorization: Bearer <token>)
 *        → 200; without a token 401 OTP_REQUIRED, with a token of another purpose 403.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { createOtp, otpErrorHandler, otpMetrics, otpRouter, otpStatusRouter, requireVerifiedOtp, type Otp } from '../lib/index.js';

const PURPOSE = 'change-payout';

interface DemoUser {
  readonly phone: string;
  payoutIban: string;
}

/** Stand-in for the app's user store and session. */
function demoUsers(): Map<string, DemoUser> {
  return new Map([
    ['alice', { phone: '+359871234567', payoutIban: 'BG80BNBG96611020345678' }],
    ['bob', { phone: '+359881234567', payoutIban: 'BG18RZBB91550123456789' }],
  ]);
}

const IBAN = /^[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}$/;

export interface StepUpAppOptions {
  /** Bearer token for /metrics and /admin/otp; without one those routes answer 404. @default env ADMIN_TOKEN */
  readonly adminToken?: string;
}

export function createStepUpApp(otp: Otp, options: StepUpAppOptions = {}): Express {
  const users = demoUsers();
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '2kb' }));

  // Your session middleware goes here; the example trusts a header to stay short.
  const signedIn = (req: Request, res: Response, next: NextFunction): void => {
    const user = users.get(req.get('x-demo-user') ?? '');
    if (user === undefined) {
      res.status(401).json({ error: { code: 'SIGNED_OUT', message: 'Sign in first (X-Demo-User: alice).' } });
      return;
    }
    res.locals.user = user;
    next();
  };
  const userOf = (res: Response): DemoUser => res.locals.user as DemoUser;

  app.use('/otp', otpRouter(otp));

  // Step 1: the code goes to the number on file, never to a number the client picks.
  app.post('/account/payout/step-up', signedIn, async (_req, res) => {
    const sent = await otp.sendSms(userOf(res).phone, { purpose: PURPOSE });
    res.status(202).json({ requestId: sent.requestId, status: sent.status, expiresAt: sent.expiresAt.toISOString() });
  });

  // Step 3: the guard accepts only a fresh token of this purpose and spends it.
  app.put('/account/payout', signedIn, requireVerifiedOtp(otp, { purpose: PURPOSE }), (req, res) => {
    const user = userOf(res);
    // The token proves control of *a* phone: make sure it is this user's phone.
    if (req.otp?.phone !== user.phone) {
      res.status(403).json({ error: { code: 'OTP_PHONE_MISMATCH', message: 'The verification was for another phone number.' } });
      return;
    }
    const iban: unknown = (req.body as { iban?: unknown } | undefined)?.iban;
    if (typeof iban !== 'string' || !IBAN.test(iban)) {
      res.status(400).json({ error: { code: 'VALIDATION_FAILED', message: '"iban" must be an IBAN like BG80BNBG96611020345678', field: 'iban' } });
      return;
    }
    user.payoutIban = iban;
    res.json({ updated: true, payoutIban: iban });
  });

  // Operator side. A real app uses its own admin auth; the status router and the metrics handler do none.
  const adminDigest = createHash('sha256').update(options.adminToken ?? process.env.ADMIN_TOKEN ?? '').digest();
  const adminEnabled = (options.adminToken ?? process.env.ADMIN_TOKEN ?? '') !== '';
  const requireAdmin = (req: Request, res: Response, next: NextFunction): void => {
    const given = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1] ?? '';
    // Compare digests so the comparison takes the same time whatever the token's length.
    if (adminEnabled && timingSafeEqual(createHash('sha256').update(given).digest(), adminDigest)) {
      next();
      return;
    }
    res.status(adminEnabled ? 401 : 404).json({ error: { code: 'ADMIN_ONLY', message: adminEnabled ? 'Admin token required.' : 'Not found (set ADMIN_TOKEN).' } });
  };
  const metrics = otpMetrics(otp);
  app.get('/metrics', requireAdmin, metrics.metricsHandler());
  app.use('/admin/otp', requireAdmin, otpStatusRouter(otp));

  app.use(otpErrorHandler({ logger: otp.config.logger }));
  return app;
}

// Listen only when run directly (`npx tsx examples/step-up.ts`), not when a test imports the file.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const otp = createOtp();
  await otp.migrate();
  await otp.ready();
  const poller = otp.startRetryPoller();
  const port = Number(process.env.PORT ?? 3000);
  const server = createStepUpApp(otp).listen(port, () => {
    console.log(`step-up example on http://localhost:${port} (admin routes ${process.env.ADMIN_TOKEN ? 'enabled' : 'off: set ADMIN_TOKEN'})`);
  });
  const shutdown = (): void => {
    server.close();
    void poller.stop().then(() => otp.close()).then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
