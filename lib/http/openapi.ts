/**
 * `otpOpenApiDocument(options)`: the OpenAPI 3.1 description of the HTTP API that `otpRouter()`
 * serves (also at `GET <mount>/openapi.json`). Error codes and their statuses come from the one
 * table in errors.ts, so the document cannot drift from what the router answers. The send
 * operations (/sms, /call, /whatsapp, /resend) are in openapi-send.ts, shared parts in openapi-parts.ts.
 */
import { ANY_CODE_PATTERN } from '../core/patterns.js';
import { configError, OTP_ERROR_CODES, type OtpErrorCode } from '../errors.js';
import { errorResponse, json, ref, responseRef, type JsonValue } from './openapi-parts.js';
import { sendPaths, sendSchemas } from './openapi-send.js';

export type { JsonValue } from './openapi-parts.js';

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

export type OpenApiDocument = { openapi: '3.1.0' } & { [key: string]: JsonValue };

export const PURPOSE_PATTERN = '^[a-zA-Z0-9][a-zA-Z0-9._:-]{0,63}$';
const VERIFY_CODES = ['OTP_INVALID', 'OTP_EXPIRED', 'OTP_NOT_FOUND', 'OTP_TOO_MANY_ATTEMPTS'] as const satisfies readonly OtpErrorCode[];
const GUARD_CODES = ['OTP_REQUIRED', 'OTP_TOKEN_INVALID', 'OTP_TOKEN_EXPIRED', 'OTP_TOKEN_USED'] as const satisfies readonly OtpErrorCode[];
const SERVER_CODES = ['INTERNAL_ERROR', 'CONFIG_INVALID'] as const satisfies readonly OtpErrorCode[];

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
  const common = {
    '400': responseRef('ValidationFailed'),
    '413': responseRef('PayloadTooLarge'),
    '415': responseRef('UnsupportedMediaType'),
    '429': responseRef('RateLimited'),
    '500': responseRef('InternalError'),
  };
  return {
    openapi: '3.1.0',
    info: {
      title,
      version: '1.0.0',
      description:
        'Send one-time passcodes by SMS, voice call or WhatsApp (with a fallback channel and "call me instead") and verify them. A successful verification returns a short-lived, ' +
        'single-use token that routes guarded by `requireVerifiedOtp` accept (see the `otpToken` security schemes).\n\n' +
        'Every failure has the body `{ "error": { "code", "message" } }` with a stable `code`; /verify adds `requestValid` and `codeValid`.',
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    servers: [{ url: serverUrl }],
    tags: [{ name: 'otp', description: 'One-time passcodes' }],
    paths: {
      ...sendPaths(common),
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
        ...sendSchemas(),
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
        NotConfigured: errorResponse(['NOT_CONFIGURED'], 'Returned by `otpInsightsRouter` when the service it was given has no `insights()`.'),
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
