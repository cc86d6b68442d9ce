/**
 * `otpOpenApiDocument(options)`: the OpenAPI 3.1 description of the HTTP API that `otpRouter()`
 * serves (also at `GET <mount>/openapi.json`). Error codes and their statuses come from the one
 * table in errors.ts, so the document cannot drift from what the router answers.
 */
import { ANY_CODE_PATTERN } from '../core/patterns.js';
import { configError, OTP_ERROR_CODES, type OtpErrorCode } from '../errors.js';

export interface OtpOpenApiOptions {
  /** Digits per code, as configured in `createOtp` (the `code` pattern of /verify). @default 6 */
  readonly codeLength?: number;
  /**
   * A provider that owns its codes (Twilio Verify, Sinch) is routed: `code` is then any 1-32
   * letters, digits or "-" (its exact shape depends on the provider). @default false: `codeLength` digits
   */
  readonly providerCodes?: boolean;
  /** Where the router is mounted, e.g. `/otp` or `https://api.example.com/otp`. @default '/' */
  readonly serverUrl?: string;
  /** `info.title`. @default 'One-time passcodes' */
  readonly title?: string;
}

/** A JSON value, as the document is plain data ready for `res.json()`. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type OpenApiDocument = { openapi: '3.1.0' } & { [key: string]: JsonValue };

type Schema = { [key: string]: JsonValue };

const PURPOSE_PATTERN = '^[a-zA-Z0-9][a-zA-Z0-9._:-]{0,63}$';
const SEND_CODES = ['CHANNEL_UNSUPPORTED'] as const satisfies readonly OtpErrorCode[];
const VERIFY_CODES = ['OTP_INVALID', 'OTP_EXPIRED', 'OTP_NOT_FOUND', 'OTP_TOO_MANY_ATTEMPTS'] as const satisfies readonly OtpErrorCode[];
const GUARD_CODES = ['OTP_REQUIRED', 'OTP_TOKEN_INVALID', 'OTP_TOKEN_EXPIRED', 'OTP_TOKEN_USED'] as const satisfies readonly OtpErrorCode[];
const SERVER_CODES = ['INTERNAL_ERROR', 'CONFIG_INVALID'] as const satisfies readonly OtpErrorCode[];

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const responseRef = (name: string): Schema => ({ $ref: `#/components/responses/${name}` });

function codesList(codes: readonly OtpErrorCode[]): string {
  return codes.map((code) => `- \`${code}\` (${OTP_ERROR_CODES[code].status}): ${OTP_ERROR_CODES[code].message}`).join('\n');
}

/** The error body narrowed to some codes; `verify` adds the required top-level flags of /verify. */
function errorBody(codes: readonly OtpErrorCode[], verify = false): Schema {
  return {
    type: 'object',
    required: verify ? ['error', 'requestValid', 'codeValid'] : ['error'],
    additionalProperties: false,
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        additionalProperties: false,
        properties: {
          code: { type: 'string', enum: [...codes] },
          message: { type: 'string' },
          field: { type: 'string', description: 'The request field at fault (400 only).' },
          requestValid: { type: 'boolean' },
          codeValid: { type: 'boolean' },
          attemptsLeft: { type: 'integer', minimum: 0, description: 'Wrong codes still allowed for this request (after OTP_INVALID).' },
          retryAfter: { type: 'integer', minimum: 1, description: 'Seconds until a new try is allowed; the same as the Retry-After header.' },
          channel: { type: 'string', enum: ['sms', 'call'] },
        },
      },
      requestValid: { type: 'boolean', description: 'Is there a live request for this number?' },
      codeValid: { type: 'boolean', const: false },
    },
  };
}

function errorResponse(codes: readonly OtpErrorCode[], summary: string, options: { verify?: boolean; retryAfter?: boolean } = {}): Schema {
  return {
    description: `${summary}\n\n${codesList(codes)}`,
    headers: {
      'Cache-Control': { $ref: '#/components/headers/NoStore' },
      ...(options.retryAfter === true ? { 'Retry-After': { $ref: '#/components/headers/RetryAfter' } } : {}),
    },
    content: { 'application/json': { schema: errorBody(codes, options.verify ?? false) } },
  };
}

function validate(options: OtpOpenApiOptions): Required<OtpOpenApiOptions> {
  if (typeof options !== 'object' || options === null) throw configError('otpOpenApiDocument(options): options must be an object');
  const codeLength = options.codeLength ?? 6;
  if (!Number.isInteger(codeLength) || codeLength < 6 || codeLength > 10) {
    throw configError(`otpOpenApiDocument: option \`codeLength\` must be a whole number from 6 to 10 (got ${JSON.stringify(codeLength)})`);
  }
  const serverUrl = options.serverUrl ?? '/';
  if (typeof serverUrl !== 'string' || serverUrl === '') throw configError('otpOpenApiDocument: option `serverUrl` must be a non-empty string such as "/otp"');
  const title = options.title ?? 'One-time passcodes';
  if (typeof title !== 'string' || title === '') throw configError('otpOpenApiDocument: option `title` must be a non-empty string');
  const providerCodes = options.providerCodes ?? false;
  if (typeof providerCodes !== 'boolean') throw configError('otpOpenApiDocument: option `providerCodes` must be true or false');
  return { codeLength, serverUrl, title, providerCodes };
}

export function otpOpenApiDocument(options: OtpOpenApiOptions = {}): OpenApiDocument {
  const { codeLength, serverUrl, title, providerCodes } = validate(options);
  const json = (schema: Schema): Schema => ({ 'application/json': { schema } });
  const common = {
    '400': responseRef('ValidationFailed'),
    '413': responseRef('PayloadTooLarge'),
    '415': responseRef('UnsupportedMediaType'),
    '429': responseRef('RateLimited'),
    '500': responseRef('InternalError'),
  };
  const sendOperation = (channel: 'sms' | 'call'): Schema => ({
    operationId: channel === 'sms' ? 'sendSms' : 'sendCall',
    summary: channel === 'sms' ? 'Send a code by text message' : 'Send a code by voice call',
    description:
      'Creates a verification request for the number (a newer request replaces an older one) and delivers a fresh code ' +
      'through the routed providers, in failover order. The code itself is never returned.',
    tags: ['otp'],
    security: [],
    parameters: [
      {
        name: 'X-OTP-Challenge',
        in: 'header',
        required: false,
        description: 'The answer to a bot challenge (e.g. a CAPTCHA token), handed to the `challenge` hook when one is configured.',
        schema: { type: 'string', maxLength: 4096 },
      },
    ],
    requestBody: { required: true, content: json(ref('SendRequest')) },
    responses: {
      '202': {
        description: 'Accepted: the code was delivered (`sent`) or waits for the retry poller (`queued`).',
        headers: { 'Cache-Control': { $ref: '#/components/headers/NoStore' } },
        content: json(ref('SendAccepted')),
      },
      ...common,
      '422': errorResponse(SEND_CODES, 'No configured provider can deliver on this channel to this number.'),
      '428': errorResponse(['CHALLENGE_REQUIRED'], 'A `challenge` hook is configured and refused the send (or failed): show the bot challenge and send its answer in `X-OTP-Challenge`.'),
      '503': errorResponse(['PROVIDER_UNAVAILABLE'], 'Every routed provider failed and retries are off.'),
    },
  });

  return {
    openapi: '3.1.0',
    info: {
      title,
      version: '1.0.0',
      description:
        'Send one-time passcodes by SMS or voice call and verify them. A successful verification returns a short-lived, ' +
        'single-use token that routes guarded by `requireVerifiedOtp` accept (see the `otpToken` security schemes).\n\n' +
        'Every failure has the body `{ "error": { "code", "message" } }` with a stable `code`; /verify adds `requestValid` and `codeValid`.',
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    servers: [{ url: serverUrl }],
    tags: [{ name: 'otp', description: 'One-time passcodes' }],
    paths: {
      '/sms': { post: sendOperation('sms') },
      '/call': { post: sendOperation('call') },
      '/verify': {
        post: {
          operationId: 'verify',
          summary: 'Check a code',
          description:
            'Checks the code of the live request for the number. A right code consumes the request and returns a verification token; ' +
            'a wrong one counts an attempt.',
          tags: ['otp'],
          security: [],
          requestBody: { required: true, content: json(ref('VerifyRequest')) },
          responses: {
            '200': {
              description: 'The code is right.',
              headers: { 'Cache-Control': { $ref: '#/components/headers/NoStore' } },
              content: json(ref('VerifySucceeded')),
            },
            ...common,
            '422': errorResponse(
              VERIFY_CODES,
              'The code was not accepted. `OTP_INVALID` keeps the request alive (`requestValid: true`, `attemptsLeft`); the others mean a new code is needed (`requestValid: false`).',
              { verify: true },
            ),
            '503': errorResponse(['PROVIDER_UNAVAILABLE'], 'The provider that owns the code could not be asked; try again.'),
          },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openApiDocument',
          summary: 'This document',
          tags: ['otp'],
          security: [],
          responses: { '200': { description: 'The OpenAPI 3.1 document of this router.', content: json({ type: 'object', required: ['openapi', 'paths'] }) } },
        },
      },
    },
    components: {
      schemas: {
        Phone: {
          type: 'string',
          minLength: 1,
          maxLength: 32,
          description: 'A phone number in international format (E.164), e.g. `+359871234567`. Numbers that are not valid for their country are refused (400).',
          examples: ['+359871234567'],
        },
        Purpose: {
          type: 'string',
          pattern: PURPOSE_PATTERN,
          description: 'What the code is for, e.g. `delete-account`; the token carries it and `requireVerifiedOtp({ purpose })` checks it. Default `default`.',
        },
        SendRequest: {
          type: 'object',
          required: ['phone'],
          additionalProperties: false,
          properties: { phone: ref('Phone'), purpose: ref('Purpose') },
        },
        SendAccepted: {
          type: 'object',
          required: ['requestId', 'channel', 'status', 'expiresAt'],
          additionalProperties: false,
          properties: {
            requestId: { type: 'string', format: 'uuid' },
            channel: { type: 'string', enum: ['sms', 'call'] },
            status: { type: 'string', enum: ['sent', 'queued'], description: '`queued`: every provider failed for now; the retry poller delivers the same code later.' },
            expiresAt: { type: 'string', format: 'date-time', description: 'When the code stops being accepted.' },
          },
        },
        VerifyRequest: {
          type: 'object',
          required: ['phone', 'code'],
          additionalProperties: false,
          properties: {
            phone: ref('Phone'),
            code: providerCodes
              ? { type: 'string', pattern: ANY_CODE_PATTERN.source, maxLength: 32, description: `The ${codeLength}-digit code the kit sent, or the code of a provider that owns its codes (Twilio Verify: 4-10 digits; Sinch: up to 10 letters, digits or "-").` }
              : { type: 'string', pattern: `^[0-9]{${codeLength}}$`, description: `The ${codeLength}-digit code.` },
            purpose: { ...ref('Purpose'), description: 'When given, the live request must have been sent for this purpose.' },
          },
        },
        VerifySucceeded: {
          type: 'object',
          required: ['requestValid', 'codeValid', 'requestId', 'token', 'tokenExpiresAt'],
          additionalProperties: false,
          properties: {
            requestValid: { type: 'boolean', const: true },
            codeValid: { type: 'boolean', const: true },
            requestId: { type: 'string', format: 'uuid' },
            token: { type: 'string', minLength: 1, description: 'The verification token: send it as `Authorization: Bearer <token>` or `X-OTP-Token`.' },
            tokenExpiresAt: { type: 'string', format: 'date-time' },
          },
        },
        ErrorDetail: {
          type: 'object',
          required: ['code', 'message'],
          properties: {
            code: { type: 'string', enum: Object.keys(OTP_ERROR_CODES), description: 'Stable error code; switch on it, not on the message.' },
            message: { type: 'string', description: 'A sentence for people; may change.' },
          },
        },
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: ref('ErrorDetail'), requestValid: { type: 'boolean' }, codeValid: { type: 'boolean' } },
        },
      },
      headers: {
        RetryAfter: {
          description: 'Seconds to wait before trying again (whole seconds, at least 1); sent with every limit that waiting lifts, and the same as `error.retryAfter`.',
          schema: { type: 'integer', minimum: 1 },
        },
        NoStore: { description: 'Responses are never cached.', schema: { type: 'string', const: 'no-store' } },
      },
      responses: {
        ValidationFailed: errorResponse(['VALIDATION_FAILED'], 'The body is not valid JSON, or a field is missing, unknown, of the wrong type or malformed; `error.field` names it.'),
        PayloadTooLarge: errorResponse(['PAYLOAD_TOO_LARGE'], 'The body is larger than the router accepts (2 kB by default).'),
        UnsupportedMediaType: errorResponse(['UNSUPPORTED_MEDIA_TYPE'], 'The body is not `application/json`.'),
        RateLimited: errorResponse(
          ['RATE_LIMITED'],
          'A send or verify limit was hit (resend cooldown, per-number, per-IP, per-range or daily caps, a number locked after wrong codes); wait `Retry-After` seconds. On /verify the body also has `requestValid: false, codeValid: false`.',
          { retryAfter: true },
        ),
        InternalError: errorResponse(SERVER_CODES, 'An unexpected failure (logged on the server without the details).'),
        OtpTokenRejected: errorResponse(GUARD_CODES, 'Returned by routes guarded with `requireVerifiedOtp` when the verification token is missing or not usable.'),
        OtpPurposeMismatch: errorResponse(['OTP_PURPOSE_MISMATCH'], 'Returned by routes guarded with `requireVerifiedOtp({ purpose })` for a token of another purpose.'),
        CallbackRefused: errorResponse(['CALLBACK_UNAUTHORIZED', 'WEBHOOK_SIGNATURE_INVALID'], 'Returned by `otpCallbackRouter` for an unsigned, tampered or stale provider callback, and thrown by `verifyWebhook` (see docs/webhooks.md).'),
      },
      securitySchemes: {
        otpToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'The token from a successful POST /verify, for your routes guarded with `requireVerifiedOtp(otp, { purpose })`. ' +
            `It lives for the configured token lifetime (5 minutes by default), is single-use by default, and carries the phone and purpose. ` +
            'A guarded route answers 401 (`OtpTokenRejected`) or 403 (`OtpPurposeMismatch`) otherwise.',
        },
        otpTokenHeader: {
          type: 'apiKey',
          in: 'header',
          name: 'X-OTP-Token',
          description: 'The same token as `otpToken`, for clients that cannot set the Authorization header.',
        },
      },
    },
  };
}
