/**
 * Authentication of inbound delivery reports, and their mapping to `delivered` / `undelivered`. Pure.
 *
 * Sinch Verification signs its callbacks with the application's key and secret ("application
 * signing"): `Authorization: Application <key>:<signature>` where signature =
 * Base64(HMAC-SHA256(Base64-decode(secret), "<METHOD>\n<Content-MD5>\n<Content-Type>\nx-timestamp:<x-timestamp>\n<path>"))
 * and Content-MD5 = Base64(MD5(body)). `Basic` authorization (key and secret in clear) is not
 * accepted, nor is an `x-timestamp` further than the tolerance from now (replays).
 *
 * The Mada gateway does not sign its reports: they must carry the shared callback token as
 * `Authorization: Bearer <token>`. A replayed report changes nothing (reports are idempotent).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type ReportOutcome = 'delivered' | 'undelivered';

export interface SinchCallbackRequest {
  readonly method: string;
  /** The request path as Sinch called it (with the query string, if any). */
  readonly path: string;
  readonly contentType: string | undefined;
  readonly authorization: string | undefined;
  readonly timestamp: string | undefined;
  readonly body: Buffer;
}

const equal = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** Why a Sinch callback is refused, or undefined when it is signed by this application and fresh. */
export function sinchCallbackProblem(credentials: { applicationKey: string; applicationSecret: string }, req: SinchCallbackRequest, now: number, toleranceMs: number): string | undefined {
  const match = /^Application ([^:\s]+):(\S+)$/.exec(req.authorization ?? '');
  if (match === null) return 'no application-signed Authorization header';
  if (req.timestamp === undefined) return 'no x-timestamp header';
  const at = Date.parse(req.timestamp);
  if (Number.isNaN(at) || Math.abs(now - at) > toleranceMs) return 'x-timestamp is missing, malformed or outside the tolerance';
  const contentMd5 = req.body.length === 0 ? '' : createHash('md5').update(req.body).digest('base64');
  const toSign = `${req.method.toUpperCase()}\n${contentMd5}\n${req.contentType ?? ''}\nx-timestamp:${req.timestamp}\n${req.path}`;
  const expected = createHmac('sha256', Buffer.from(credentials.applicationSecret, 'base64')).update(toSign, 'utf8').digest('base64');
  if (!equal(match[1] ?? '', credentials.applicationKey) || !equal(match[2] ?? '', expected)) return 'the signature does not match';
  return undefined;
}

/** A Sinch `VerificationSmsDeliveredEvent`'s outcome, or undefined for events that are not delivery reports. */
export function sinchReport(body: unknown): { ref: string; outcome: ReportOutcome } | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const event = body as { event?: unknown; id?: unknown; smsResult?: unknown };
  if (event.event !== 'VerificationSmsDeliveredEvent' || typeof event.id !== 'string' || typeof event.smsResult !== 'string') return undefined;
  return { ref: event.id, outcome: /^success/i.test(event.smsResult) ? 'delivered' : 'undelivered' };
}

/** True when the Bearer token is the configured one (constant time). */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const match = /^Bearer (\S+)$/.exec(authorization ?? '');
  return match !== null && equal(match[1] ?? '', token);
}

const DELIVERED = new Set(['DELIVERED', 'DELIVRD', 'DELIVERY_SUCCESS', 'SUCCESS']);
const UNDELIVERED = new Set(['UNDELIVERED', 'UNDELIV', 'UNDELIVERABLE', 'FAILED', 'REJECTED', 'REJECTD', 'EXPIRED', 'DELETED']);

/** A Mada delivery report (`messageId` and `status`, as JSON or a form); undefined for interim states (ACCEPTED, ENROUTE …). */
export function madaReport(fields: Readonly<Record<string, unknown>>): { ref: string; outcome: ReportOutcome } | { invalid: string } | undefined {
  const ref = fields.messageId ?? fields.MessageId ?? fields.msgId;
  const status = fields.status ?? fields.Status;
  if (typeof ref !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(ref)) return { invalid: 'messageId' };
  if (typeof status !== 'string' || status === '') return { invalid: 'status' };
  const s = status.toUpperCase();
  if (DELIVERED.has(s)) return { ref, outcome: 'delivered' };
  if (UNDELIVERED.has(s)) return { ref, outcome: 'undelivered' };
  return undefined;
}
