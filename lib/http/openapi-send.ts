/**
 * The send operations of the OpenAPI document: POST /sms, /call, /whatsapp and /resend ("call me
 * instead"), with their request and answer schemas.
 */
import { CHANNELS } from '../core/channels.js';
import { LOCALE_MAX, LOCALE_PATTERN } from '../core/locale.js';
import type { OtpErrorCode } from '../errors.js';
import type { Channel } from '../types.js';
import { errorResponse, json, noStore, ref, type Schema } from './openapi-parts.js';

const SEND_CODES = ['CHANNEL_UNSUPPORTED'] as const satisfies readonly OtpErrorCode[];

const OPERATIONS: Readonly<Record<Channel, { id: string; summary: string }>> = {
  sms: { id: 'sendSms', summary: 'Send a code by text message' },
  call: { id: 'sendCall', summary: 'Send a code by voice call' },
  whatsapp: { id: 'sendWhatsapp', summary: 'Send a code by WhatsApp (Twilio Verify, Sinch)' },
};

const PARAMETERS: Schema[] = [
  {
    name: 'X-OTP-Challenge',
    in: 'header',
    required: false,
    description: 'The answer to a bot challenge (e.g. a CAPTCHA token), handed to the `challenge` hook when one is configured.',
    schema: { type: 'string', maxLength: 4096 },
  },
  {
    name: 'Accept-Language',
    in: 'header',
    required: false,
    description: 'Picks the localized text (`messageTemplates`) and the provider locale when the body has no `locale`; malformed entries are skipped.',
    schema: { type: 'string', maxLength: 1000 },
  },
];

function operation(id: string, summary: string, description: string, body: string, common: Schema, codes: readonly OtpErrorCode[]): Schema {
  return {
    operationId: id,
    summary,
    description,
    tags: ['otp'],
    security: [],
    parameters: PARAMETERS,
    requestBody: { required: true, content: json(ref(body)) },
    responses: {
      '202': {
        description: 'Accepted: the code was delivered (`sent`) or waits for the retry poller (`queued`); `channel` is the channel it went out on.',
        headers: noStore,
        content: json(ref('SendAccepted')),
      },
      ...common,
      '422': errorResponse(codes, 'No configured provider can deliver on this channel (or a fallback channel) to this number.'),
      '428': errorResponse(['CHALLENGE_REQUIRED'], 'A `challenge` hook is configured and refused the send (or failed): show the bot challenge and send its answer in `X-OTP-Challenge`.'),
      '503': errorResponse(['PROVIDER_UNAVAILABLE'], 'Every routed provider (and fallback channel) failed and retries are off.'),
    },
  };
}

const SEND_DESCRIPTION =
  'Creates a verification request for the number (a newer request replaces an older one) and delivers a fresh code through the routed ' +
  'providers, in failover order, then on the `channelFallback` channels. The code itself is never returned.';

export function sendPaths(common: Schema): Schema {
  const paths: Schema = {};
  for (const channel of CHANNELS) {
    const { id, summary } = OPERATIONS[channel];
    paths[`/${channel}`] = { post: operation(id, summary, SEND_DESCRIPTION, 'SendRequest', common, SEND_CODES) };
  }
  paths['/resend'] = {
    post: operation(
      'resend',
      'Resend the live code request on a channel ("call me instead")',
      'Supersedes the number\'s live request with a new code on `channel`, for the same purpose. On the live request\'s channel the ' +
        'resend cooldown applies; on another channel `channelSwitchCooldownSeconds` (30 s by default) counted from the latest code. ' +
        'Every other send limit counts it. A number without a live request (or with one of another purpose) gets the same answer, ' +
        'a 202 after as long as a send takes or the same 429, and nothing is sent: the answer never tells whether a code is live.',
      'ResendRequest',
      common,
      SEND_CODES,
    ),
  };
  return paths;
}

export function sendSchemas(): Schema {
  return {
    Locale: {
      type: 'string',
      pattern: LOCALE_PATTERN.source,
      maxLength: LOCALE_MAX,
      description: 'A BCP 47 tag (`de`, `de-AT`, `pt-BR`): picks the text of kit-owned codes (`de-AT` → `de` → the default) and the provider locale. Malformed: 400 `locale`; unknown: the default text.',
      examples: ['de-AT'],
    },
    SendRequest: {
      type: 'object',
      required: ['phone'],
      additionalProperties: false,
      properties: { phone: ref('Phone'), purpose: ref('Purpose'), locale: ref('Locale') },
    },
    ResendRequest: {
      type: 'object',
      required: ['phone', 'channel'],
      additionalProperties: false,
      properties: {
        phone: ref('Phone'),
        channel: { type: 'string', enum: [...CHANNELS], description: 'The channel to send the new code on, e.g. `call` after an SMS that did not arrive.' },
        purpose: { ...ref('Purpose'), description: 'When given, the live request must have been sent for this purpose.' },
        locale: { ...ref('Locale'), description: 'Default: the live request\'s locale.' },
      },
    },
    SendAccepted: {
      type: 'object',
      required: ['requestId', 'channel', 'status', 'expiresAt'],
      additionalProperties: false,
      properties: {
        requestId: { type: 'string', format: 'uuid' },
        channel: { type: 'string', enum: [...CHANNELS], description: 'The channel the code went out on: the asked one, or a fallback channel.' },
        status: { type: 'string', enum: ['sent', 'queued'], description: '`queued`: every provider failed for now; the retry poller delivers the same code later.' },
        expiresAt: { type: 'string', format: 'date-time', description: 'When the code stops being accepted.' },
      },
    },
  };
}
