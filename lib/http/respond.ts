/** JSON rendering of errors, shared by the router, the guard and otpErrorHandler. */
import type { Response } from 'express';
import { OTP_ERROR_CODES, OtpError, type OtpErrorCode } from '../errors.js';
import { safeErrorSummary } from '../core/safe-error.js';
import type { Logger } from '../types.js';
import { rateLimitHeaders } from './rate-limit-headers.js';

/** How errors are rendered; the router and otpErrorHandler pass their options through. */
export interface RespondOptions {
  /** IETF `RateLimit` / `RateLimit-Policy` headers on a 429 (besides `Retry-After`). @default true */
  readonly standardHeaders?: boolean;
}

/** Fields of OtpError.details that may appear in a response body; everything else stays internal. */
const PUBLIC_DETAILS = ['field', 'requestValid', 'codeValid', 'attemptsLeft', 'retryAfter', 'channel'] as const;

export function sendError(res: Response, error: OtpError, options: RespondOptions = {}): void {
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  for (const key of PUBLIC_DETAILS) if (error.details[key] !== undefined) body[key] = error.details[key];
  const top: Record<string, unknown> = { error: body };
  if (error.details.requestValid !== undefined) top.requestValid = error.details.requestValid;
  if (error.details.codeValid !== undefined) top.codeValid = error.details.codeValid;
  if (typeof error.details.retryAfter === 'number') res.setHeader('Retry-After', String(error.details.retryAfter));
  if (options.standardHeaders ?? true) for (const [name, value] of Object.entries(rateLimitHeaders(error))) res.setHeader(name, value);
  res.setHeader('Cache-Control', 'no-store');
  sendJson(res, error.status, top);
}

/**
 * `res.status(status).json(body)` without Express's per-response work for a body that is never
 * cached: a SHA-1 ETag of every answer (the answers carry `Cache-Control: no-store`), a MIME lookup
 * and two charset rewrites of the Content-Type. Same status, Content-Type, Content-Length and
 * bytes. An app that set `json spaces`, `json replacer` or `json escape` gets `res.json` as before.
 */
export function sendJson(res: Response, status: number, body: unknown): void {
  const app = res.app as Response['app'] | undefined;
  if (app !== undefined && (app.get('json spaces') !== undefined || app.get('json replacer') !== undefined || Boolean(app.get('json escape')))) {
    res.status(status).json(body);
    return;
  }
  const json = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}

interface BodyParserError {
  type?: unknown;
  status?: unknown;
}

/** Maps body-parser failures to the contract's codes; undefined for anything else. */
export function bodyParserError(error: unknown): OtpError | undefined {
  const type = (error as BodyParserError | null)?.type;
  if (type === 'entity.too.large') return new OtpError('PAYLOAD_TOO_LARGE');
  if (type === 'entity.parse.failed') return new OtpError('VALIDATION_FAILED', 'The body is not valid JSON.');
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') return new OtpError('UNSUPPORTED_MEDIA_TYPE');
  if (type === 'request.aborted' || type === 'request.size.invalid' || type === 'stream.encoding.set') return new OtpError('VALIDATION_FAILED', 'The body could not be read.');
  return undefined;
}

/**
 * The log object of a 5xx OtpError: its code and kit-written message, and its cause (often a
 * database error) only as a redacted summary (see lib/core/safe-error.ts).
 */
export function otpErrorLogFields(error: OtpError): Record<string, unknown> {
  return { code: error.code, err: error.message, ...(error.cause === undefined ? {} : { cause: safeErrorSummary(error.cause) }) };
}

/**
 * Any error to a JSON response: OtpErrors as they are, the rest as a logged 500 without details.
 * Unknown errors are logged redacted: a database error's message holds the SQL with its bound values.
 */
export function renderError(res: Response, error: unknown, logger: Logger, options: RespondOptions = {}): void {
  if (error instanceof OtpError) {
    if (error.status >= 500) logger.error(otpErrorLogFields(error), 'otp request failed');
    sendError(res, error, options);
    return;
  }
  const mapped = bodyParserError(error);
  if (mapped !== undefined) {
    sendError(res, mapped, options);
    return;
  }
  logger.error({ code: 'INTERNAL_ERROR', err: safeErrorSummary(error) }, 'otp request failed unexpectedly');
  const code: OtpErrorCode = 'INTERNAL_ERROR';
  sendError(res, new OtpError(code, OTP_ERROR_CODES[code].message), options);
}
