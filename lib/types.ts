/**
 * Public types of the kit. Everything a user or a provider author needs is declared here and
 * re-exported from the package root.
 */

/** The delivery channels: a text message, a voice call (the seed's two) or a WhatsApp message. */
export type Channel = 'sms' | 'call' | 'whatsapp';

/** The names the routing string knows out of the box (case-insensitive in the string). */
export type BuiltinProviderName = 'Twilio' | 'Sinch' | 'Mada' | 'Console';

/** What the kit hands a provider for one delivery attempt. */
export interface ProviderSendInput {
  /** The kit's id of the OTP request (also a good idempotency reference). */
  readonly requestId: string;
  /** E.164, e.g. `+359871234567`. */
  readonly phone: string;
  readonly channel: Channel;
  /**
   * The code the kit generated. Providers that own the code (`ownsCode: true`) ignore it and let
   * their service generate and check one; the others must deliver exactly this code.
   */
  readonly code: string;
  /** The rendered message (template with the code filled in) for providers that deliver text. */
  readonly text: string;
  /**
   * The locale of the send (BCP 47, e.g. `de-AT`), for providers that write their own text (Twilio
   * `Locale`, Sinch); each narrows it to the locales it supports. Undefined: the provider's default.
   */
  readonly locale?: string;
  /** The Android SMS Retriever app hash (`webOtp.appHash`), for providers that write their own text (Twilio `AppHash`). */
  readonly appHash?: string;
  /** Aborted when the provider timeout elapses; pass it to fetch/SDK calls where they accept one. */
  readonly signal: AbortSignal;
}

/** What a provider reports after it accepted a delivery. */
export interface ProviderSendResult {
  /** The provider's own id for the delivery (Twilio `VE…`, Sinch verification id, Mada messageId). */
  readonly ref?: string;
  /**
   * Copies of the provider request and response for the request row. They are redacted again by
   * the kit before they are stored, but a provider should already leave secrets out.
   */
  readonly request?: unknown;
  readonly response?: unknown;
}

export interface ProviderCheckInput {
  readonly requestId: string;
  readonly phone: string;
  readonly channel: Channel;
  readonly code: string;
  /** The `ref` the provider returned from `send`. */
  readonly ref?: string;
  readonly signal: AbortSignal;
}

/**
 * The outcome of a provider-side code check:
 * - `approved`: the code is right;
 * - `wrong`: the code is wrong, the verification is still alive;
 * - `gone`: the provider no longer knows a live verification (expired, approved, too many checks).
 */
export type ProviderCheckResult = { readonly status: 'approved' } | { readonly status: 'wrong' } | { readonly status: 'gone' };

/**
 * What codes a provider that owns the code can issue, so the kit can refuse a malformed code
 * locally without asking the provider. `pattern` must be anchored (`^…$`) and bound the length.
 */
export interface ProviderCodeFormat {
  /** Matches every code the provider can issue, e.g. `/^[0-9]{4,10}$/` for Twilio Verify. */
  readonly pattern: RegExp;
  /** The longest code `pattern` accepts (1-32). */
  readonly maxLength: number;
  /** For messages: `4-10 digits`, `1-10 letters, digits or "-"`. */
  readonly description: string;
}

/**
 * One delivery provider. Two kinds exist:
 * - providers that own the code (Twilio Verify, Sinch Verification): `ownsCode: true`, and `check`
 *   asks the provider whether a code is right;
 * - providers that only deliver the code the kit generated (Mada, Console): `ownsCode: false`, and
 *   the kit checks the code against its own digest.
 *
 * Failures are reported by throwing; the kit classifies any thrown value with
 * `classifyProviderError` (lib/providers/classify.ts), so a provider may throw a `ProviderError`
 * directly when it already knows whether the failure is worth a retry.
 */
export interface OtpProvider {
  /** The name used in the routing string, e.g. `Twilio`. */
  readonly name: string;
  /** The channels this provider can deliver on; the router skips it for the others. */
  readonly channels: readonly Channel[];
  readonly ownsCode: boolean;
  send(input: ProviderSendInput): Promise<ProviderSendResult>;
  /** Required when `ownsCode` is true. */
  check?(input: ProviderCheckInput): Promise<ProviderCheckResult>;
  /**
   * For providers that own the code: the codes they can issue. Codes checked by this provider are
   * validated against it instead of the kit's `codeLength` digits. Without it, a provider-owned code
   * is any 1-32 letters, digits or `-` (`PROVIDER_CODE_FALLBACK`).
   */
  readonly codeFormat?: ProviderCodeFormat;
}

/** A pino-compatible logger: `logger.warn({ obj }, 'message')` or `logger.warn('message')`. */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

/** A phone number as the seed passes it (`otp.Phone{Number}`), or the number itself. */
export type PhoneInput = string | { readonly number: string };

/** Delivery state of a request row. */
export type DeliveryStatus =
  /** A delivery attempt is under way (leased). */
  | 'sending'
  /** Every provider failed; the row waits for the retry poller. */
  | 'queued'
  /** A provider accepted the message or call. */
  | 'sent'
  /** Not delivered and not retried (permanent error, or retry is off). */
  | 'failed'
  /** `maxRetries` retries were spent without a delivery (the seed's "unsendable"). */
  | 'unsendable'
  /** The code expired before a delivery succeeded; it is never sent. */
  | 'expired';

export interface SendResult {
  readonly requestId: string;
  /** The channel the code went out on: the asked one, or a `channelFallback` channel when all its providers failed. */
  readonly channel: Channel;
  /** The provider that delivered, or null while the request waits for a retry. */
  readonly provider: string | null;
  readonly status: DeliveryStatus;
  readonly expiresAt: Date;
  /**
   * The code, only where the kit generated it and delivered it itself (Mada, Console), as the seed's
   * `SendSMS` returned it. Never sent over HTTP.
   */
  readonly code?: string;
}

/** Error codes that explain why a verification did not succeed. */
export type VerifyFailureCode = 'OTP_INVALID' | 'OTP_EXPIRED' | 'OTP_NOT_FOUND' | 'OTP_TOO_MANY_ATTEMPTS';

export interface VerifyResult {
  /** Is there a live request for this number (the seed's `otpRequestValid`)? */
  readonly requestValid: boolean;
  /** Is the code right (the seed's `otpCodeValid`)? */
  readonly codeValid: boolean;
  /** Why the verification failed, as a stable error code. */
  readonly reason?: VerifyFailureCode;
  readonly requestId?: string;
  /** Wrong guesses left for this request, after a wrong guess. */
  readonly attemptsLeft?: number;
  /** A signed verification token for `requireVerifiedOtp`, after a success. */
  readonly token?: string;
  readonly tokenExpiresAt?: Date;
}

export interface SendOptions {
  /** What the code is for; the token carries it and `requireVerifiedOtp({ purpose })` checks it. */
  readonly purpose?: string;
  /** The client IP, for per-IP limits. */
  readonly ip?: string;
  /** The answer to a bot challenge (e.g. a CAPTCHA token), handed to the `challenge` hook. */
  readonly challengeToken?: string;
  /** The user's locale (BCP 47, e.g. `de-AT`): picks the `messageTemplates` text; a malformed tag is 400 `locale`. */
  readonly locale?: string;
  /** An `Accept-Language` header, used when `locale` is not given (malformed entries are skipped). */
  readonly acceptLanguage?: string;
  /**
   * This send's escalation workflow (steps, or the short form `sms:60,call`), instead of the
   * `workflow` / `workflowByPurpose` options; `false`: none. Its first step must be the send's channel.
   */
  readonly workflow?: ReadonlyArray<{ readonly channel: Channel; readonly timeoutSeconds?: number }> | string | false;
}

export interface VerifyOptions {
  /** When given, the live request must have been sent for this purpose. */
  readonly purpose?: string;
  readonly ip?: string;
}

/** What `requireVerifiedOtp` puts on `req.otp`. */
export interface VerifiedOtp {
  readonly phone: string;
  readonly requestId: string;
  readonly verifiedAt: Date;
  readonly purpose: string;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by `requireVerifiedOtp` once a verification token was accepted. */
      otp?: VerifiedOtp;
    }
  }
}
