/** Types of the loopback Sinch Verification fake (sinch-fake.ts). */
import type http from 'node:http';

export type SinchFakeOperation = 'start' | 'report';

/** Verification methods the fake serves: SMS, a phone call (`callout`) and WhatsApp. */
export type SinchFakeMethod = 'sms' | 'callout' | 'whatsapp';

export type SinchFakeBehaviour =
  /** The service logic described above (default). */
  | { readonly type: 'logic' }
  /** A documented error: `{ errorCode, message, reference }` with this HTTP status (and `Retry-After`, when given). */
  | { readonly type: 'error'; readonly httpStatus: number; readonly errorCode: number; readonly message?: string; readonly retryAfter?: string }
  /** A report answer with this status (and reason), e.g. `{ status: 'DENIED', reason: 'Fraud' }`. */
  | { readonly type: 'status'; readonly status: string; readonly reason?: string }
  /** Any JSON body. */
  | { readonly type: 'json'; readonly httpStatus?: number; readonly body: unknown }
  /** Any bytes (HTML pages, empty bodies, broken JSON). */
  | { readonly type: 'raw'; readonly httpStatus: number; readonly body: string; readonly contentType?: string }
  /** Never answer (the socket stays open until `close()`). */
  | { readonly type: 'hang' }
  /** Drop the connection without an answer. */
  | { readonly type: 'destroy' };

export interface SinchFakeConfig {
  readonly start?: SinchFakeBehaviour;
  readonly report?: SinchFakeBehaviour;
  /** Wait this long before answering any request. */
  readonly delayMs?: number;
}

export interface SinchFakeOptions extends SinchFakeConfig {
  readonly applicationKey?: string;
  /** Must be base64 (the signature is keyed with its decoded bytes). */
  readonly applicationSecret?: string;
  /** Characters of generated codes (Sinch allows up to 10). @default 4 */
  readonly codeLength?: number;
  /** Sinch's `codeType`: digits, letters or both. @default 'Numeric' */
  readonly codeType?: 'Numeric' | 'Alpha' | 'Alphanumeric';
  /** A verification expires this long after its start; reports then answer FAIL / Expired. @default 600000 */
  readonly ttlMs?: number;
  /**
   * Wrong reports before the verification is over. Sinch documents no number: the fake answers the
   * last allowed wrong report FAIL / Invalid code and every later one 404 / 40400. @default 5
   */
  readonly maxAttempts?: number;
  /** Answer 409 / 40900 when a start reuses a reference (off by default). */
  readonly rejectDuplicateReference?: boolean;
}

export interface SinchFakeRequest {
  readonly method: string;
  /** The path as sent (the `+` of the number is literal). */
  readonly path: string;
  readonly operation: SinchFakeOperation | undefined;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawBody: string;
  /** The parsed JSON body, or undefined when it was not JSON. */
  readonly body: unknown;
  /** For reports: the number taken from the path. */
  readonly phone?: string;
  readonly authOk: boolean;
}

/** What the fake "sent" to a phone: read `code` to play the user who got the SMS or call. */
export interface SinchFakeDelivery {
  readonly id: string;
  readonly phone: string;
  readonly method: SinchFakeMethod;
  readonly code: string;
  readonly reference: string | undefined;
  /** The locale asked for (SMS: the Accept-Language header; call: `calloutOptions.speech.locale`). */
  readonly locale: string | undefined;
  readonly at: Date;
}

export interface SinchFake {
  /** Origin for `verificationHostname` / `SINCH_BASE_URL`, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  readonly applicationKey: string;
  readonly applicationSecret: string;
  /** Every request received, in order. */
  readonly requests: SinchFakeRequest[];
  /** Protocol violations seen (wrong path, header, signature, body shape); tests expect none. */
  readonly problems: string[];
  /** Every verification started, in order. */
  readonly deliveries: SinchFakeDelivery[];
  /** The code of the live verification for a number, if any. */
  codeFor(phone: string): string | undefined;
  /** Makes the live verification of a number expire now: its next report answers FAIL / Expired. */
  expire(phone: string): void;
  /** Ends the live verification of a number as Sinch's fraud checks would: its next report answers DENIED with `reason`. */
  deny(phone: string, reason?: string): void;
  /** Ends the live verification of a number as aborted (e.g. superseded): its next report answers ABORTED. */
  abort(phone: string): void;
  /** Replaces the persistent behaviour of the given operations (and the delay). */
  set(config: SinchFakeConfig): void;
  /** Behaviours used once each, in order, before the persistent one applies again. */
  enqueue(operation: SinchFakeOperation, ...behaviours: SinchFakeBehaviour[]): void;
  /** Forgets requests, problems, deliveries, live verifications and queues; restores the initial behaviour. */
  reset(): void;
  close(): Promise<void>;
}
