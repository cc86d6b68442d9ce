/**
 * The `webhooks` option of createOtp: its type, its joi schema and its resolution (with the
 * `OTP_WEBHOOK_URL` / `OTP_WEBHOOK_SECRET` fallbacks). Secrets follow the Standard Webhooks form,
 * `whsec_` + base64 of 24 to 64 random bytes; several secrets sign every delivery (rotation). Pure.
 */
import Joi from 'joi';
import { configError } from '../errors.js';
import { outboxSubjectKeys } from './outbox-subject.js';

/** The end of every request (lib/webhooks/end-events.ts), one of these exactly once per request. */
export const END_WEBHOOK_TYPES = ['otp.verified', 'otp.expired', 'otp.max_attempts_reached', 'otp.canceled'] as const;

/** The event types sent to the webhook endpoint (`type` in the body). */
export const WEBHOOK_EVENT_TYPES = ['otp.sent', 'otp.failed', 'otp.delivered', 'otp.undelivered', 'otp.number_locked', 'otp.range_held', 'otp.escalated', 'otp.step_skipped', 'otp.hold_released', 'otp.limit_monitored', ...END_WEBHOOK_TYPES] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
/** Sent only when `events` names them: one per would-be refusal in monitor mode can be many. */
const OPT_IN_EVENT_TYPES: readonly WebhookEventType[] = ['otp.limit_monitored'];

export interface WebhookOptions {
  /** The receiver's URL (http or https; use https outside a private network). Env `OTP_WEBHOOK_URL`. */
  readonly url: string;
  /** `whsec_…` secret(s); every one signs each delivery (rotation). Env `OTP_WEBHOOK_SECRET` (comma-separated). */
  readonly secret: string | readonly string[];
  /** Event types to send. @default every type but `otp.limit_monitored` (monitor mode's would-be refusals: name it to get them) */
  readonly events?: readonly WebhookEventType[];
  /** One delivery attempt's timeout in ms. @default 15000 */
  readonly timeoutMs?: number;
  /** Attempts before an event is `failed` for good. @default 10 */
  readonly maxAttempts?: number;
  /** Delay before the second attempt, doubling per attempt, with jitter. @default 5000 */
  readonly baseDelayMs?: number;
  /** Cap of one delay. @default 3600000 (1 h) */
  readonly maxDelayMs?: number;
}

export interface ResolvedWebhooks {
  readonly url: string;
  /** The HMAC keys (decoded secrets), first one first. */
  readonly keys: readonly Buffer[];
  readonly events: ReadonlySet<WebhookEventType>;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Keys of the outbox rows' `phone_key` (lib/core/outbox-subject.ts), from the kit's secrets, current first. */
  readonly subjectKeys: readonly Buffer[];
}

const SECRET_PREFIX = 'whsec_';

export const webhookOptionsSchema = Joi.alternatives(
  Joi.valid(false),
  Joi.object({
    url: Joi.string().uri({ scheme: ['http', 'https'] }).required(),
    secret: Joi.alternatives(Joi.string().min(1), Joi.array().items(Joi.string().min(1)).min(1)).required(),
    events: Joi.array().items(Joi.string().valid(...WEBHOOK_EVENT_TYPES)).min(1).unique(),
    timeoutMs: Joi.number().integer().min(100).max(60_000),
    maxAttempts: Joi.number().integer().min(1).max(50),
    baseDelayMs: Joi.number().integer().min(10).max(3_600_000),
    maxDelayMs: Joi.number().integer().min(10).max(86_400_000),
  }),
);

/** The HMAC key of a `whsec_` secret; names the option when it is not one. */
export function webhookKey(secret: string, option = 'webhooks.secret'): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : undefined;
  const key = encoded !== undefined && /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) ? Buffer.from(encoded, 'base64') : undefined;
  if (key === undefined || key.length < 24 || key.length > 64) {
    throw configError(
      `createOtp: option \`${option}\` must be \`whsec_\` followed by base64 of 24 to 64 random bytes (Standard Webhooks), e.g. \`whsec_$(openssl rand -base64 32)\``,
    );
  }
  return key;
}

/** The webhooks in force: the option, else the environment; undefined when none is configured. */
export function resolveWebhooks(option: WebhookOptions | false | undefined, env: Readonly<Record<string, string | undefined>>, kitSecrets: readonly string[] = []): ResolvedWebhooks | undefined {
  if (option === false) return undefined;
  let url = option?.url;
  let secrets: readonly string[] | undefined = option === undefined ? undefined : typeof option.secret === 'string' ? [option.secret] : option.secret;
  let from = 'webhooks.secret';
  if (option === undefined) {
    url = env.OTP_WEBHOOK_URL === '' ? undefined : env.OTP_WEBHOOK_URL;
    const raw = env.OTP_WEBHOOK_SECRET ?? '';
    secrets = raw === '' ? undefined : raw.split(',').map((s) => s.trim()).filter(Boolean);
    from = 'OTP_WEBHOOK_SECRET';
    if (url === undefined && secrets === undefined) return undefined;
    if (url === undefined || secrets === undefined) {
      throw configError('createOtp: OTP_WEBHOOK_URL and OTP_WEBHOOK_SECRET go together: set both to send webhooks, or neither');
    }
    const { error } = Joi.string().uri({ scheme: ['http', 'https'] }).validate(url);
    if (error !== undefined) throw configError(`createOtp: OTP_WEBHOOK_URL must be an http or https URL (got ${JSON.stringify(url)})`);
  }
  return {
    url: url ?? '',
    keys: (secrets ?? []).map((s) => webhookKey(s, from)),
    events: new Set(option?.events ?? WEBHOOK_EVENT_TYPES.filter((type) => !OPT_IN_EVENT_TYPES.includes(type))),
    timeoutMs: option?.timeoutMs ?? 15_000,
    maxAttempts: option?.maxAttempts ?? 10,
    baseDelayMs: option?.baseDelayMs ?? 5_000,
    maxDelayMs: option?.maxDelayMs ?? 3_600_000,
    subjectKeys: outboxSubjectKeys(kitSecrets),
  };
}
