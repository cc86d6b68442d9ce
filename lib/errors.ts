/**
 * The one error class of the kit and the single table of its stable codes. The HTTP layer renders
 * an OtpError as `{ error: { code, message } }` with `status`; library callers switch on `code`.
 */

export const OTP_ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, message: 'The request is not valid.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body must be JSON (Content-Type: application/json).' },
  OTP_INVALID: { status: 422, message: 'The code is not correct.' },
  OTP_EXPIRED: { status: 422, message: 'The code has expired; request a new one.' },
  OTP_NOT_FOUND: { status: 422, message: 'There is no pending code for this number; request a new one.' },
  OTP_TOO_MANY_ATTEMPTS: { status: 422, message: 'Too many wrong codes; request a new one later.' },
  CHANNEL_UNSUPPORTED: { status: 422, message: 'No configured provider can deliver on this channel to this number.' },
  CHALLENGE_REQUIRED: { status: 428, message: 'A bot challenge must be passed before a code can be sent (send its answer in the X-OTP-Challenge header).' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; try again later.' },
  PROVIDER_UNAVAILABLE: { status: 503, message: 'The code could not be delivered; try again later.' },
  OTP_REQUIRED: { status: 401, message: 'A verification token is required (Authorization: Bearer <token> or X-OTP-Token).' },
  OTP_TOKEN_INVALID: { status: 401, message: 'The verification token is not valid.' },
  OTP_TOKEN_EXPIRED: { status: 401, message: 'The verification token has expired; verify again.' },
  OTP_TOKEN_USED: { status: 401, message: 'The verification token was already used; verify again.' },
  OTP_PURPOSE_MISMATCH: { status: 403, message: 'The verification token was issued for another purpose.' },
  WEBHOOK_SIGNATURE_INVALID: { status: 401, message: 'The webhook is not signed with a configured secret, or its timestamp is stale.' },
  CALLBACK_UNAUTHORIZED: { status: 401, message: 'The provider callback is unsigned, wrongly signed or stale.' },
  NOT_CONFIGURED: { status: 501, message: 'This part of the kit is not available in this service.' },
  CONFIG_INVALID: { status: 500, message: 'The OTP kit is misconfigured.' },
  INTERNAL_ERROR: { status: 500, message: 'Internal error.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type OtpErrorCode = keyof typeof OTP_ERROR_CODES;

export class OtpError extends Error {
  override readonly name = 'OtpError';
  readonly code: OtpErrorCode;
  readonly status: number;
  /** Extra fields merged into the JSON error response (e.g. `requestValid`, `retryAfter`). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: OtpErrorCode, message?: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message ?? OTP_ERROR_CODES[code].message, options);
    this.code = code;
    this.status = OTP_ERROR_CODES[code].status;
    this.details = details;
  }
}

export function isOtpError(value: unknown): value is OtpError {
  return value instanceof OtpError;
}

/**
 * An expected "no" from the limits or the bot challenge. The service returns it as data; the HTTP
 * layer renders it (and the library methods throw it as an OtpError for their callers).
 */
export interface Refusal {
  readonly code: 'RATE_LIMITED' | 'CHALLENGE_REQUIRED';
  /** Seconds after which trying again makes sense. */
  readonly retryAfter?: number;
  /** The limit that refused (the `limit-hit` event's name), and its policy when it has a window. */
  readonly limit?: string;
  readonly max?: number;
  readonly windowSeconds?: number;
}

/** The OtpError of a refusal; a refused verify also says the request and code were not accepted. */
export function refusalError(refusal: Refusal, verify = false): OtpError {
  // `limit`, `max` and `windowSeconds` feed the RateLimit headers; they never reach the body.
  return new OtpError(refusal.code, undefined, {
    ...(refusal.retryAfter === undefined ? {} : { retryAfter: refusal.retryAfter }),
    ...(refusal.limit === undefined ? {} : { limit: refusal.limit }),
    ...(refusal.max === undefined ? {} : { max: refusal.max }),
    ...(refusal.windowSeconds === undefined ? {} : { windowSeconds: refusal.windowSeconds }),
    ...(verify ? { requestValid: false, codeValid: false } : {}),
  });
}

/** A startup/configuration mistake: thrown by factories, names the option and the fix. */
export function configError(message: string): OtpError {
  return new OtpError('CONFIG_INVALID', message);
}

/** Turns any thrown value into an Error (for logs and `cause`). */
export function coerceError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : JSON.stringify(value));
}
