/**
 * `otpRouter(otp?)`: POST /sms, /call and /verify as in the contract, plus /whatsapp and /resend
 * ("call me instead"). Strict JSON in (415 for
 * anything else, 413 over the body limit, 400 for any schema problem), JSON out with stable error
 * codes. Without an argument it builds the service from the environment, like the seed's
 * `registry.ServiceProviderOTP()`.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type Joi from 'joi';
import { OtpError, refusalError } from '../errors.js';
import { routedNames } from '../core/routing.js';
import type { OtpDeps, Outcome } from '../service/deps.js';
import { internalsOf } from '../service/internals.js';
import { createOtp, type Otp } from '../service/otp.js';
import { resendOtp } from '../service/resend.js';
import { sendOtp } from '../service/send.js';
import { verifyOtp } from '../service/verify.js';
import type { Channel, SendOptions, SendResult } from '../types.js';
import { forwardErrors } from './async-handler.js';
import { bodyShape, fastAccepts, type BodyShape } from './body-check.js';
import { otpOpenApiDocument } from './openapi.js';
import { proxyCheck } from './proxy-check.js';
import { renderError, sendError, sendJson, type RespondOptions } from './respond.js';
import { resendBodySchema, sendBodySchema, verifyBodySchema, type HttpBody } from './schemas.js';

export interface OtpRouterOptions {
  /** Largest accepted body (the kit needs well under 1 kB). @default '2kb' */
  readonly bodyLimit?: string | number;
  /** IETF `RateLimit` and `RateLimit-Policy` headers on a 429, besides `Retry-After`. @default true */
  readonly standardHeaders?: boolean;
}

function validate(shape: BodyShape<HttpBody>, body: unknown): HttpBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new OtpError('VALIDATION_FAILED', 'The body must be a JSON object.');
  }
  // The compiled fast path only accepts; everything else gets Joi's verdict and message.
  if (shape.fast !== undefined && fastAccepts(shape.fast, body)) return body as HttpBody;
  const result: Joi.ValidationResult<HttpBody> = shape.schema.validate(body);
  if (result.error !== undefined) {
    const detail = result.error.details[0];
    throw new OtpError('VALIDATION_FAILED', detail?.message ?? result.error.message, { field: detail?.path.join('.') });
  }
  return result.value;
}

/** The locale of a send: the body's `locale`, else the `Accept-Language` header (lib/core/locale.ts). */
function localeOptions(req: Request, body: HttpBody): Pick<SendOptions, 'locale' | 'acceptLanguage'> {
  if (body.locale !== undefined) return { locale: body.locale };
  const header = req.get('accept-language');
  return header === undefined ? {} : { acceptLanguage: header };
}

/** What a send or resend passes on from the request: purpose, client IP, challenge answer, locale. */
function sendOptionsOf(req: Request, body: HttpBody): SendOptions {
  const challengeToken = req.get('x-otp-challenge');
  // req.ip is a getter that parses X-Forwarded-For on every read.
  const { ip } = req;
  return {
    ...(body.purpose === undefined ? {} : { purpose: body.purpose }),
    ...(ip === undefined ? {} : { ip }),
    ...(challengeToken === undefined ? {} : { challengeToken: challengeToken.slice(0, 4096) }),
    ...localeOptions(req, body),
  };
}

/** 202 with what a client may see of a send, or the refusal (429, 428) with its headers. */
function answerSend(res: Response, outcome: Outcome<SendResult>, options: RespondOptions): void {
  if (outcome.refusal !== undefined) {
    sendError(res, refusalError(outcome.refusal), options);
    return;
  }
  const { result } = outcome;
  res.setHeader('Cache-Control', 'no-store');
  sendJson(res, 202, { requestId: result.requestId, channel: result.channel, status: result.status, expiresAt: result.expiresAt.toISOString() });
}

/** Whether the routing in force names a provider that owns its codes (the shape of `code` then varies). */
async function routesProviderCodes(deps: OtpDeps): Promise<boolean> {
  try {
    return routedNames(await deps.routing.current()).some((name) => deps.registry.get(name).ownsCode);
  } catch {
    return false;
  }
}

/** The router, with the service it serves (the one built from the environment when none was given). */
export type OtpRouter = Router & { readonly otp: Otp };

export function otpRouter(otp?: Otp, options: OtpRouterOptions = {}): OtpRouter {
  const service = otp ?? createOtp();
  // The service functions answer refusals as data; this layer renders them.
  const deps = internalsOf(service);
  const { logger } = service.config;
  const sendShape = bodyShape(sendBodySchema);
  const resendShape = bodyShape(resendBodySchema);
  const verifyShape = bodyShape(verifyBodySchema(service.config.codeLength));
  const parseJson = express.json({ limit: options.bodyLimit ?? '2kb', strict: true, type: () => true });
  const router = express.Router();
  router.use(proxyCheck(logger));

  const builtFromEnv = !otp;
  if (builtFromEnv) {
    // Built from the environment: nobody else calls ready(), so the first request checks the tables
    // and the routing once, and a missing migration is reported clearly instead of as an SQL error.
    let readiness: Promise<void> | undefined;
    router.use(
      forwardErrors(async function otpReady(_req: Request, _res: Response, next: NextFunction) {
        readiness ??= service.ready().catch((error: unknown) => {
          readiness = undefined;
          throw error;
        });
        await readiness;
        next();
      }),
    );
  }

  router.use(function otpRequireJson(req: Request, res: Response, next: NextFunction) {
    if (req.method !== 'POST') {
      next();
      return;
    }
    // The app may have parsed the body already (app.use(express.json())).
    if ((req as Request & { _body?: boolean })._body === true) {
      next();
      return;
    }
    if (!req.is('application/json')) {
      sendError(res, new OtpError('UNSUPPORTED_MEDIA_TYPE'));
      return;
    }
    next();
  });
  // body-parser itself skips a body that was already parsed.
  router.use(parseJson);

  const sendHandler = (channel: Channel) =>
    forwardErrors(async function otpSend(req: Request, res: Response) {
      const body = validate(sendShape, req.body);
      answerSend(res, await sendOtp(deps, body.phone, channel, sendOptionsOf(req, body)), options);
    });

  router.get('/openapi.json', forwardErrors(async function otpOpenApi(req: Request, res: Response) {
    const providerCodes = await routesProviderCodes(deps);
    res.json(otpOpenApiDocument({ codeLength: service.config.codeLength, serverUrl: req.baseUrl === '' ? '/' : req.baseUrl, providerCodes }));
  }));
  router.post('/sms', sendHandler('sms'));
  router.post('/call', sendHandler('call'));
  router.post('/whatsapp', sendHandler('whatsapp'));
  router.post('/resend', forwardErrors(async function otpResend(req: Request, res: Response) {
    const body = validate(resendShape, req.body);
    // Audit 23.1: a number without a live code gets the answer a live one would (a look-alike 202 or the same 429).
    answerSend(res, await resendOtp(deps, body.phone, body.channel ?? 'sms', { ...sendOptionsOf(req, body), hideMissing: true }), options);
  }));
  async function otpVerify(req: Request, res: Response): Promise<void> {
    const body = validate(verifyShape, req.body);
    const { ip } = req;
    const { result, refusal } = await verifyOtp(deps, body.phone, body.code ?? '', { ...(body.purpose === undefined ? {} : { purpose: body.purpose }), ...(ip === undefined ? {} : { ip }) });
    if (refusal !== undefined) {
      sendError(res, refusalError(refusal, true), options);
      return;
    }
    res.setHeader('Cache-Control', 'no-store');
    if (result.codeValid && result.token !== undefined && result.tokenExpiresAt !== undefined) {
      sendJson(res, 200, { requestValid: true, codeValid: true, requestId: result.requestId, token: result.token, tokenExpiresAt: result.tokenExpiresAt.toISOString() });
      return;
    }
    sendError(
      res,
      new OtpError(result.reason ?? 'OTP_NOT_FOUND', undefined, {
        requestValid: result.requestValid,
        codeValid: false,
        ...(result.attemptsLeft === undefined ? {} : { attemptsLeft: result.attemptsLeft }),
      }),
    );
  }
  router.post('/verify', forwardErrors(otpVerify));

  router.use(function otpRouterErrors(error: unknown, _req: Request, res: Response, next: NextFunction) {
    if (res.headersSent) {
      next(error);
      return;
    }
    renderError(res, error, logger, options);
  });
  return Object.assign(router, { otp: service });
}
