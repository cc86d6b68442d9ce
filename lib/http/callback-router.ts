/**
 * `otpCallbackRouter(otp, options)`: inbound delivery reports from the providers that send them.
 *
 *   POST /sinch  Sinch Verification callbacks, application-signed (lib/webhooks/inbound.ts);
 *                `VerificationSmsDeliveredEvent` becomes a delivery report, a
 *                `VerificationRequestEvent` is answered `{ "action": "allow" }` for a live request
 *                the kit started and `{ "action": "deny" }` otherwise (lib/service/sinch-request.ts),
 *                others `200 {}`. Only with Sinch credentials: without them there is no route (404).
 *   POST /mada   Mada delivery reports (`messageId`, `status`; JSON or a form) with
 *                `Authorization: Bearer <token>`; only with a token (else 404)
 *
 * An unsigned, wrongly signed or stale callback is 401 `CALLBACK_UNAUTHORIZED` and changes nothing.
 * Each report is recorded on its request row and, with webhooks on, sent as `otp.delivered` or
 * `otp.undelivered`. Mount it where the provider can reach it, e.g. `app.use('/otp/callbacks', otpCallbackRouter(otp))`,
 * and give Sinch the full URL (the signature covers the path).
 */
import express, { raw as rawBodyParser, type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import { configError, OtpError } from '../errors.js';
import { sinchOptionsFromEnv } from '../providers/sinch.js';
import { reportDelivery } from '../service/delivery-report.js';
import type { OtpDeps } from '../service/deps.js';
import { internalsOf } from '../service/internals.js';
import type { Otp } from '../service/otp.js';
import { sinchRequestAllowed } from '../service/sinch-request.js';
import { bearerMatches, madaReport, sinchCallbackProblem, sinchReport } from '../webhooks/inbound.js';
import { forwardErrors } from './async-handler.js';
import { renderError } from './respond.js';

export interface OtpCallbackRouterOptions {
  /** Sinch application credentials that sign the callbacks. @default the kit's `sinch` option, else SINCH_APPLICATION_KEY / SINCH_APPLICATION_SECRET */
  readonly sinch?: { readonly applicationKey: string; readonly applicationSecret: string } | false;
  /** The shared token Mada's reports carry (at least 24 characters). Env `MADA_CALLBACK_TOKEN`. @default none: no /mada route */
  readonly madaToken?: string | false;
  /** Largest accepted age (or skew) of a signed callback's timestamp, in seconds. @default 300 */
  readonly toleranceSeconds?: number;
}

const unauthorized = (why: string): OtpError => new OtpError('CALLBACK_UNAUTHORIZED', `callback refused: ${why}`);

function rawBody(req: Request): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new OtpError('VALIDATION_FAILED', 'The body is not valid JSON.');
  }
}

interface SinchCredentials {
  readonly applicationKey: string;
  readonly applicationSecret: string;
}

/** The answer to a signed Sinch event: allow or deny for a verification request, else `{}`. */
async function sinchAnswer(deps: OtpDeps, event: unknown): Promise<Record<string, string>> {
  if ((event as { event?: unknown } | null)?.event !== 'VerificationRequestEvent') return {};
  if (await sinchRequestAllowed(deps, event)) return { action: 'allow' };
  deps.config.logger.warn({ method: String((event as { method?: unknown }).method).slice(0, 16) }, 'otp denied a Sinch verification request the kit did not start');
  return { action: 'deny' };
}

/** POST /sinch, for a router that has the Sinch credentials. */
function sinchCallbackHandler(deps: OtpDeps, sinch: SinchCredentials, toleranceMs: number): RequestHandler {
  return forwardErrors(async function sinchCallback(req: Request, res: Response) {
    const body = rawBody(req);
    const problem = sinchCallbackProblem(
      sinch,
      { method: req.method, path: req.originalUrl, contentType: req.get('content-type'), authorization: req.get('authorization'), timestamp: req.get('x-timestamp'), body },
      deps.config.clock(),
      toleranceMs,
    );
    if (problem !== undefined) throw unauthorized(problem);
    const event = parseJson(body);
    const report = sinchReport(event);
    if (report !== undefined) await reportDelivery(deps, { provider: 'Sinch', ...report });
    const answer = await sinchAnswer(deps, event);
    res.setHeader('Cache-Control', 'no-store');
    res.status(200).json(answer);
  });
}

export function otpCallbackRouter(otp: Otp, options: Readonly<OtpCallbackRouterOptions> = {}): Router {
  const deps = internalsOf(otp);
  const { config } = deps;
  const given = options.sinch === false ? undefined : (options.sinch ?? config.providerSettings.sinch);
  const fromEnv = sinchOptionsFromEnv(config.env);
  const applicationKey = given?.applicationKey ?? fromEnv.applicationKey;
  const applicationSecret = given?.applicationSecret ?? fromEnv.applicationSecret;
  const sinch = options.sinch !== false && applicationKey !== undefined && applicationSecret !== undefined ? { applicationKey, applicationSecret } : undefined;
  const madaToken = options.madaToken === false ? undefined : (options.madaToken ?? (config.env.MADA_CALLBACK_TOKEN || undefined));
  if (madaToken !== undefined && madaToken.length < 24) throw configError('otpCallbackRouter: option `madaToken` (or MADA_CALLBACK_TOKEN) needs at least 24 random characters');
  const tolerance = options.toleranceSeconds ?? 300;
  if (!Number.isInteger(tolerance) || tolerance < 1 || tolerance > 3600) throw configError(`otpCallbackRouter: option \`toleranceSeconds\` must be a whole number from 1 to 3600 (got ${JSON.stringify(tolerance)})`);

  const router = express.Router();
  router.use(rawBodyParser({ type: () => true, limit: '16kb' }));

  const madaDeliveryReport = async function madaDeliveryReport(req: Request, res: Response): Promise<void> {
    if (madaToken === undefined || !bearerMatches(req.get('authorization'), madaToken)) throw unauthorized('no or a wrong Bearer token');
    const body = rawBody(req);
    const form = /urlencoded/i.test(req.get('content-type') ?? '');
    const fields = form ? Object.fromEntries(new URLSearchParams(body.toString('utf8'))) : parseJson(body);
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw new OtpError('VALIDATION_FAILED', 'The body must be an object.');
    const report = madaReport(fields as Record<string, unknown>);
    if (report !== undefined && 'invalid' in report) throw new OtpError('VALIDATION_FAILED', `\`${report.invalid}\` is missing or malformed.`, { field: report.invalid });
    if (report !== undefined) await reportDelivery(deps, { provider: 'Mada', ...report });
    res.setHeader('Cache-Control', 'no-store');
    res.status(200).json({});
  };

  // Audit 23.7: without credentials nothing can be authenticated, so there is no route (404, no log line).
  if (sinch !== undefined) router.post('/sinch', sinchCallbackHandler(deps, sinch, tolerance * 1000));
  // Express 4 does not catch a rejected promise: forwardErrors hands it to the error handler.
  if (madaToken !== undefined) router.post('/mada', forwardErrors(madaDeliveryReport));
  router.use(function callbackErrors(error: unknown, _req: Request, res: Response, _next: NextFunction) {
    renderError(res, error, config.logger);
  });
  return router;
}
