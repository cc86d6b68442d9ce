/**
 * The Sinch "Application Signed Request" check, written from Sinch's published pseudo-code
 * (developers.sinch.com/docs/verification/api-reference/authentication/application-signed-request),
 * not from the SDK, so a signing mistake in the SDK or in the kit cannot hide behind the SDK's own
 * validator:
 *
 *     Content-MD5   = Base64 ( MD5 ( UTF8 ( [BODY] ) ) )         (empty when there is no body)
 *     StringToSign  = HTTP-Verb + "\n" + Content-MD5 + "\n" + Content-Type + "\n"
 *                     + CanonicalizedHeaders + "\n" + CanonicalizedResource
 *     CanonicalizedHeaders = "x-timestamp:" + <x-timestamp header>
 *     Signature     = Base64 ( HMAC-SHA256 ( Base64-Decode ( ApplicationSecret ), UTF8 ( StringToSign ) ) )
 *     Authorization = "Application " + ApplicationKey + ":" + Signature
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface SignedRequest {
  readonly method: string;
  /** The path as sent, e.g. `/verification/v1/verifications/number/+46700000001`. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawBody: string;
}

/** Sinch's documented string-to-sign for a request. */
export function sinchStringToSign(req: SignedRequest): string {
  const contentMd5 = req.rawBody === '' ? '' : createHash('md5').update(req.rawBody, 'utf8').digest('base64');
  const contentType = req.headers['content-type'] ?? '';
  const timestamp = req.headers['x-timestamp'];
  return [req.method.toUpperCase(), contentMd5, contentType, `x-timestamp:${typeof timestamp === 'string' ? timestamp : ''}`, req.path].join('\n');
}

/** The Base64 signature of a request with a Base64 application secret. */
export function sinchSignature(applicationSecret: string, req: SignedRequest): string {
  return createHmac('sha256', Buffer.from(applicationSecret, 'base64')).update(sinchStringToSign(req), 'utf8').digest('base64');
}

/** Does the request carry `Authorization: Application <key>:<signature>` with the right signature? */
export function hasValidSinchSignature(applicationKey: string, applicationSecret: string, req: SignedRequest): boolean {
  const authorization = req.headers.authorization;
  const prefix = `Application ${applicationKey}:`;
  if (typeof authorization !== 'string' || !authorization.startsWith(prefix)) return false;
  const given = Buffer.from(authorization.slice(prefix.length), 'utf8');
  const expected = Buffer.from(sinchSignature(applicationSecret, req), 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Does the request authenticate as Sinch accepts it: a valid signature, or Basic
 * `base64(key:secret)` (documented for prototyping, and what hitrix used)?
 */
export function isSinchAuthorized(applicationKey: string, applicationSecret: string, req: SignedRequest): boolean {
  if (hasValidSinchSignature(applicationKey, applicationSecret, req)) return true;
  const basic = `Basic ${Buffer.from(`${applicationKey}:${applicationSecret}`).toString('base64')}`;
  const given = Buffer.from(req.headers.authorization ?? '', 'utf8');
  const expected = Buffer.from(basic, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Why the fake refuses a routed request before any behaviour runs: a protocol problem and Sinch's error answer. */
export interface ProtocolRefusal {
  readonly problem: string;
  readonly httpStatus: number;
  readonly errorCode: number;
  readonly message: string;
}

const E164 = /^\+[1-9]\d{6,14}$/;

/** The documented request rules: x-timestamp, signature, JSON content type, an object body, an E.164 number in a report path. */
export function protocolRefusal(operation: 'start' | 'report', req: SignedRequest, authOk: boolean, body: unknown, phone: string | undefined): ProtocolRefusal | undefined {
  const timestamp = req.headers['x-timestamp'];
  if (typeof timestamp !== 'string' || Number.isNaN(Date.parse(timestamp))) {
    return { problem: `${operation}: missing or bad x-timestamp`, httpStatus: 401, errorCode: 40101, message: 'Missing or invalid x-timestamp header' };
  }
  if (!authOk) {
    const scheme = req.headers.authorization === undefined ? 'missing' : (req.headers.authorization.split(' ')[0] ?? '');
    return { problem: `${operation}: bad Authorization (${scheme})`, httpStatus: 401, errorCode: 40100, message: 'Invalid Authorization header or signature' };
  }
  const contentType = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(contentType)) {
    return { problem: `${operation}: Content-Type ${contentType}`, httpStatus: 415, errorCode: 40001, message: 'Content-Type must be application/json' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { problem: `${operation}: body is not a JSON object`, httpStatus: 400, errorCode: 40001, message: 'Body must be a JSON object' };
  }
  if (operation === 'report' && (phone === undefined || !E164.test(phone))) {
    return { problem: `report: bad number in path ${req.path}`, httpStatus: 400, errorCode: 40001, message: 'Invalid identity' };
  }
  return undefined;
}
