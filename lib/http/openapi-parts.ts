/**
 * Building blocks of the OpenAPI document (lib/http/openapi.ts): JSON types, `$ref` helpers and
 * the error bodies narrowed to the codes an operation can answer, from the one table in errors.ts.
 */
import { CHANNELS } from '../core/channels.js';
import { OTP_ERROR_CODES, type OtpErrorCode } from '../errors.js';

/** A JSON value, as the document is plain data ready for `res.json()`. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type Schema = { [key: string]: JsonValue };

export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
export const responseRef = (name: string): Schema => ({ $ref: `#/components/responses/${name}` });
export const json = (schema: Schema): Schema => ({ 'application/json': { schema } });
export const noStore: Schema = { 'Cache-Control': { $ref: '#/components/headers/NoStore' } };

function codesList(codes: readonly OtpErrorCode[]): string {
  return codes.map((code) => `- \`${code}\` (${OTP_ERROR_CODES[code].status}): ${OTP_ERROR_CODES[code].message}`).join('\n');
}

/** The error body narrowed to some codes; `verify` adds the required top-level flags of /verify. */
export function errorBody(codes: readonly OtpErrorCode[], verify = false): Schema {
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
          channel: { type: 'string', enum: [...CHANNELS] },
        },
      },
      requestValid: { type: 'boolean', description: 'Is there a live request for this number?' },
      codeValid: { type: 'boolean', const: false },
    },
  };
}

export function errorResponse(codes: readonly OtpErrorCode[], summary: string, options: { verify?: boolean; retryAfter?: boolean } = {}): Schema {
  return {
    description: `${summary}\n\n${codesList(codes)}`,
    headers: {
      'Cache-Control': { $ref: '#/components/headers/NoStore' },
      ...(options.retryAfter === true ? { 'Retry-After': { $ref: '#/components/headers/RetryAfter' } } : {}),
    },
    content: { 'application/json': { schema: errorBody(codes, options.verify ?? false) } },
  };
}
