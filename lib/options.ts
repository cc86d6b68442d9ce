/**
 * Options of `createOtp`: the public type (every field optional, documented defaults), the joi
 * schema compiled once, and `resolveOptions()` which merges environment variables under explicit
 * options and fails loudly with the option's name and the fix.
 */
import Joi from 'joi';
import type { Knex } from 'knex';
import type { CountryCode } from 'libphonenumber-js/max';
import { envBoolean, envInteger, type Env } from './env.js';
import { explainOptionError, HINTS } from './option-errors.js';
import { configError } from './errors.js';
import { consoleLogger } from './logger.js';
import {
  destinationOptionsSchema,
  limitOptionsSchema,
  resolveDestinations,
  resolveLimits,
  type ChallengeHook,
  type ResolvedDestinations,
  type ResolvedLimits,
} from './limits/config.js';
import type { ProviderSettings } from './providers/index.js';
import { splitFraudGuard, type FraudGuardConfig, type FraudGuardOptions, type GuardedDestinationOptions, type GuardedLimitOptions } from './limits/fraud-options.js';
import { testNumbersOptionsSchema, type TestNumbersOptions } from './core/test-numbers.js';
import { resolveWebhooks, webhookOptionsSchema, type ResolvedWebhooks, type WebhookOptions } from './core/webhook-options.js';
import { resolveTextOptions, textOptionKeys, type ResolvedTextOptions, type TextOptions } from './core/text-options.js';
import { resolveWorkflowOptions, workflowOptionKeys, type ResolvedWorkflowOptions, type WorkflowOptions } from './core/workflow.js';
import { resolveRetention, retentionOptionsSchema, type ResolvedRetention, type RetentionOptions } from './core/retention.js';
import { insightOptionKeys, resolveInsightOptions, type InsightOptions, type ResolvedInsightOptions } from './core/insights-options.js';
import { DEFAULT_TABLES, type OtpTableNames } from './storage/migrations.js';
import type { Logger, OtpProvider } from './types.js';
export type { Env } from './env.js';
export interface SmsRetryOptions {
  /** Retry failed sends from the retry table (the seed's `sms.retry`). Env `OTP_SMS_RETRY`. @default false */
  readonly retry?: boolean;
  /** Retries after the first attempt before a row is `unsendable` (the seed's `sms.max_retries`). Env `OTP_SMS_MAX_RETRIES`. @default 5 */
  readonly maxRetries?: number;
  /** First retry delay in ms; doubles per retry. @default 500 */
  readonly baseDelayMs?: number;
  /** Cap of one retry delay in ms. @default 60000 */
  readonly maxDelayMs?: number;
}

export interface OtpOptions extends ProviderSettings, TextOptions, WorkflowOptions, FraudGuardOptions, InsightOptions {
  /** A Knex instance, or a DATABASE_URL-style string. Env `DATABASE_URL`. @default 'sqlite:./otp.sqlite' */
  readonly db?: Knex | string;
  /**
   * Secret(s) for code digests and verification tokens, at least 32 characters each. The first
   * signs; all are accepted (rotation). Env `OTP_SECRET` (comma-separated for several).
   * Without one a fixed development secret is used with a warning; refused when NODE_ENV=production.
   */
  readonly secret?: string | readonly string[];
  /** Forced routing (the seed's `ServiceProviderOTP(...)` arguments), e.g. `['Twilio', 'Sinch']` or `'Twilio;Mada:+35987'`. Wins over env and the settings row. */
  readonly providers?: string | readonly string[];
  /** Your own providers, routable by their `name` (a name of a built-in replaces it). */
  readonly customProviders?: readonly OtpProvider[];
  readonly sms?: SmsRetryOptions;
  /** Digits per code (6-10). @default 6 */
  readonly codeLength?: number;
  /** Code lifetime in seconds (60-600: at most 10 minutes). @default 300 */
  readonly ttlSeconds?: number;
  /** Wrong codes per request before it is dead (1-10). @default 5 */
  readonly maxAttempts?: number;
  /** Message text with `_CODE_` (and optionally `_APP_`) placeholders. @default 'Your _APP_ code is _CODE_' */
  readonly messageTemplate?: string;
  /** Fills `_APP_`. @default 'verification' */
  readonly appName?: string;
  /** Lifetime of a verification token in seconds (30-3600). @default 300 */
  readonly tokenTtlSeconds?: number;
  /** Timeout of one provider call in ms. @default 10000 */
  readonly providerTimeoutMs?: number;
  /** How often the `otp_sms_provider` settings row is re-read, in seconds. @default 5 */
  readonly settingsRefreshSeconds?: number;
  /** Country for numbers typed without `+` (national format). @default none: such numbers are refused */
  readonly defaultCountry?: CountryCode;
  /** Table names; the settings table may be your own key/value table. */
  readonly tables?: Partial<OtpTableNames>;
  /**
   * Abuse limits, counted in the database so they hold across processes; `false` on a field
   * switches that limit off, `limits: false` switches them all off. Defaults: 60 s cooldown and
   * 5 sends per 10 min per number, 30 sends per 5 min per IP (IPv6 by /56), 20 sends per hour per
   * number range, 5000 sends per day in all, 30 verifies per 5 min per IP, a lock after 10 wrong
   * codes per number (5 min, doubling up to 1 h) and at most 100 consecutive wrong codes per number
   * (then 24 h disabled). See docs/security.md.
   */
  readonly limits?: GuardedLimitOptions | false;
  /**
   * Where codes may go: country allow/deny lists (ISO 3166-1 alpha-2, shared or per channel) and
   * blocked number types. A refused number gets the same 202 as any other and no provider call.
   * @default every country; premium-rate, shared-cost, toll-free, VoIP, pager, voicemail and non-geographic numbers refused
   */
  readonly destinations?: GuardedDestinationOptions;
  /**
   * Asked before every send (e.g. to require a CAPTCHA for risky traffic): resolve true to go on.
   * False, a throw or a rejection refuses the send with 428 `CHALLENGE_REQUIRED` (fail closed). @default none
   */
  readonly challenge?: ChallengeHook;
  /**
   * Numbers with a fixed code and an expiry (app-store review, end-to-end tests): never sent to a
   * provider, never counted against send limits. Also settable in the `otp_test_numbers` settings
   * row. Refused when NODE_ENV=production unless `allowInProduction` is true.
   */
  readonly testNumbers?: TestNumbersOptions;
  /**
   * Share one statement among the concurrent requests' counter takes, inserts, "sent" marks,
   * supersedes, lookups and consumes (group commit): the same rows and answers, fewer round trips
   * under load. @default true
   */
  readonly groupCommit?: boolean;
  /** Signed webhooks (Standard Webhooks) of delivery and verification events; docs/webhooks.md. Env `OTP_WEBHOOK_URL`, `OTP_WEBHOOK_SECRET`. @default none */
  readonly webhooks?: WebhookOptions | false;
  /** How long stored rows are kept (lib/core/retention.ts); `false` keeps everything. @default requests 30 days after expiry, failure rows 30 days idle, payloads only of failed or retried deliveries */
  readonly retention?: RetentionOptions | false;
  /** pino-compatible logger. @default warnings and errors to stderr */
  readonly logger?: Logger;
  /** Epoch milliseconds (inject in tests). @default Date.now */
  readonly clock?: () => number;
  /** Where environment variables are read from. @default process.env */
  readonly env?: Env;
}

export interface ResolvedOtpConfig extends ResolvedTextOptions, ResolvedWorkflowOptions, FraudGuardConfig, ResolvedInsightOptions {
  readonly db: Knex | string;
  readonly secrets: readonly string[];
  readonly usingDevSecret: boolean;
  /** Forced routing string (options, then OTP_SMS_PROVIDER), or undefined to read the settings row. */
  readonly forcedRouting: { readonly value: string | readonly string[]; readonly from: string } | undefined;
  readonly customProviders: readonly OtpProvider[];
  readonly providerSettings: ProviderSettings;
  readonly retry: boolean;
  readonly maxRetries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly codeLength: number;
  readonly ttlSeconds: number;
  readonly maxAttempts: number;
  readonly messageTemplate: string;
  readonly appName: string;
  readonly tokenTtlSeconds: number;
  readonly providerTimeoutMs: number;
  readonly settingsRefreshMs: number;
  readonly defaultCountry: CountryCode | undefined;
  readonly tables: OtpTableNames;
  readonly limits: ResolvedLimits;
  readonly destinations: ResolvedDestinations;
  readonly challenge: ChallengeHook | undefined;
  readonly testNumbers: TestNumbersOptions | undefined;
  readonly groupCommit: boolean;
  readonly webhooks: ResolvedWebhooks | undefined;
  readonly retention: ResolvedRetention;
  readonly logger: Logger;
  readonly clock: () => number;
  readonly env: Env;
  readonly production: boolean;
}
/** Used only outside production, with a warning, so `npm start` works with no setup. */
export const DEVELOPMENT_SECRET = 'express-otp-kit development secret: set OTP_SECRET';

const tableName = Joi.string().pattern(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/);
const schema = Joi.object<OtpOptions>({
  db: Joi.alternatives(Joi.string().min(1), Joi.function(), Joi.object().unknown(true)),
  secret: Joi.alternatives(Joi.string().min(32), Joi.array().items(Joi.string().min(32)).min(1)),
  providers: Joi.alternatives(Joi.string().min(1), Joi.array().items(Joi.string().min(1)).min(1)),
  customProviders: Joi.array().items(Joi.object().unknown(true)),
  sms: Joi.object({ retry: Joi.boolean(), maxRetries: Joi.number().integer().min(0).max(50), baseDelayMs: Joi.number().integer().min(10).max(60_000), maxDelayMs: Joi.number().integer().min(10).max(3_600_000) }),
  codeLength: Joi.number().integer().min(6).max(10),
  ttlSeconds: Joi.number().integer().min(60).max(600),
  maxAttempts: Joi.number().integer().min(1).max(10),
  messageTemplate: Joi.string().max(300).pattern(/_CODE_/),
  appName: Joi.string().min(1).max(40),
  tokenTtlSeconds: Joi.number().integer().min(30).max(3600),
  providerTimeoutMs: Joi.number().integer().min(100).max(60_000),
  settingsRefreshSeconds: Joi.number().min(0.05).max(300),
  defaultCountry: Joi.string().pattern(/^[A-Z]{2}$/),
  tables: Joi.object({ settings: tableName, settingsKeyColumn: tableName, settingsValueColumn: tableName, requests: tableName, limits: tableName, failures: tableName, webhooks: tableName, holds: tableName, insights: tableName }),
  limits: limitOptionsSchema,
  destinations: destinationOptionsSchema,
  challenge: Joi.function(),
  testNumbers: testNumbersOptionsSchema,
  groupCommit: Joi.boolean(),
  webhooks: webhookOptionsSchema,
  ...textOptionKeys, ...workflowOptionKeys, ...insightOptionKeys,
  retention: retentionOptionsSchema,
  twilio: Joi.object().unknown(true),
  sinch: Joi.object().unknown(true),
  mada: Joi.object().unknown(true),
  console: Joi.object({ write: Joi.function() }),
  logger: Joi.object({ debug: Joi.function(), info: Joi.function(), warn: Joi.function().required(), error: Joi.function().required() }).unknown(true),
  clock: Joi.function(),
  env: Joi.object().unknown(true),
});

const KNOWN_KEYS = Object.keys(schema.describe().keys as Record<string, unknown>);

/**
 * In production a missing database is a mistake, not a default: each instance would keep its own
 * SQLite file with its own codes, limits and tokens. SQLite there must be asked for by name.
 */
function databaseOf(options: OtpOptions, env: Env, production: boolean): Knex | string {
  if (options.db !== undefined) return options.db;
  if (env.DATABASE_URL !== undefined && env.DATABASE_URL !== '') return env.DATABASE_URL;
  if (production) throw configError('createOtp: no database: set DATABASE_URL (e.g. mysql://user:pass@host:3306/app) or the `db` option; NODE_ENV=production never falls back to ./otp.sqlite (use DATABASE_URL=sqlite:./otp.sqlite to ask for SQLite)');
  return 'sqlite:./otp.sqlite';
}

/** Validates options once and applies environment fallbacks and defaults (`??`, never `||`). */
export function resolveOptions(given: OtpOptions = {}): ResolvedOtpConfig {
  const { options, fraudGuard } = splitFraudGuard(given);
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw configError('createOtp: options must be an object, e.g. createOtp({ db, secret })');
  }
  const { error } = schema.validate(options, { abortEarly: true, convert: false, presence: 'optional' });
  if (error !== undefined) throw configError(explainOptionError(error, KNOWN_KEYS));
  const env = options.env ?? process.env;
  const production = env.NODE_ENV === 'production';
  const logger = options.logger ?? consoleLogger;

  let secrets: readonly string[];
  let usingDevSecret = false;
  if (options.secret !== undefined) {
    secrets = typeof options.secret === 'string' ? [options.secret] : options.secret;
  } else if (env.OTP_SECRET !== undefined && env.OTP_SECRET !== '') {
    secrets = env.OTP_SECRET.split(',').map((s) => s.trim()).filter(Boolean);
    const short = secrets.find((s) => s.length < 32);
    if (short !== undefined) throw configError(`OTP_SECRET: each secret needs at least 32 characters (one has ${short.length}); ${HINTS.secret ?? ''}`);
  } else if (production) {
    throw configError('createOtp: no secret: set OTP_SECRET (or the `secret` option) to at least 32 random characters; a development secret is refused when NODE_ENV=production');
  } else {
    secrets = [DEVELOPMENT_SECRET];
    usingDevSecret = true;
  }

  if (production && secrets.includes(DEVELOPMENT_SECRET)) {
    throw configError('createOtp: the published development secret is refused when NODE_ENV=production; set OTP_SECRET to at least 32 random characters');
  }

  const envRouting = env.OTP_SMS_PROVIDER !== undefined && env.OTP_SMS_PROVIDER.trim() !== '' ? env.OTP_SMS_PROVIDER : undefined;
  const forcedRouting =
    options.providers !== undefined
      ? { value: options.providers, from: 'the `providers` option' }
      : envRouting !== undefined
        ? { value: envRouting, from: 'OTP_SMS_PROVIDER' }
        : undefined;

  const sms = options.sms ?? {};
  const messageTemplate = options.messageTemplate ?? 'Your _APP_ code is _CODE_';
  return {
    ...resolveTextOptions(options, messageTemplate), ...resolveWorkflowOptions(options, env), ...resolveInsightOptions(options),
    db: databaseOf(options, env, production),
    secrets,
    usingDevSecret,
    forcedRouting,
    customProviders: options.customProviders ?? [],
    providerSettings: {
      ...(options.twilio === undefined ? {} : { twilio: options.twilio }),
      ...(options.sinch === undefined ? {} : { sinch: options.sinch }),
      ...(options.mada === undefined ? {} : { mada: options.mada }),
      ...(options.console === undefined ? {} : { console: options.console }),
    },
    retry: sms.retry ?? envBoolean(env, 'OTP_SMS_RETRY') ?? false,
    maxRetries: sms.maxRetries ?? envInteger(env, 'OTP_SMS_MAX_RETRIES', 0, 50) ?? 5,
    baseDelayMs: sms.baseDelayMs ?? 500,
    maxDelayMs: sms.maxDelayMs ?? 60_000,
    codeLength: options.codeLength ?? 6,
    ttlSeconds: options.ttlSeconds ?? 300,
    maxAttempts: options.maxAttempts ?? 5,
    messageTemplate,
    appName: options.appName ?? 'verification',
    tokenTtlSeconds: options.tokenTtlSeconds ?? 300,
    providerTimeoutMs: options.providerTimeoutMs ?? 10_000,
    settingsRefreshMs: Math.round((options.settingsRefreshSeconds ?? 5) * 1000),
    defaultCountry: options.defaultCountry,
    tables: { ...DEFAULT_TABLES, ...options.tables },
    limits: resolveLimits(options.limits),
    fraudGuard,
    destinations: resolveDestinations(options.destinations),
    challenge: options.challenge,
    testNumbers: options.testNumbers,
    groupCommit: options.groupCommit ?? true,
    webhooks: resolveWebhooks(options.webhooks, env, secrets),
    retention: resolveRetention(options.retention),
    logger,
    clock: options.clock ?? Date.now,
    env,
    production,
  };
}

/** What `otp.config` shows: the settings in force, without secrets, credentials or the database URL. */
export type OtpConfig = Omit<ResolvedOtpConfig, 'db' | 'secrets' | 'providerSettings' | 'customProviders' | 'env' | 'challenge' | 'webhooks' | 'fraudGuard'>;

export function publicConfig(config: ResolvedOtpConfig): OtpConfig {
  const { db: _db, secrets: _secrets, providerSettings: _settings, customProviders: _custom, env: _env, challenge: _challenge, webhooks: _webhooks, fraudGuard: _guard, ...shown } = config;
  return Object.freeze(shown);
}
