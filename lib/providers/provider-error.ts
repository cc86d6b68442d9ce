/** The failure of one provider call, already classified for the retry logic. */

export type ProviderFailureKind =
  /** The provider did not answer within the timeout. */
  | 'timeout'
  /** The connection failed (refused, reset, DNS). */
  | 'network'
  /** The provider answered with something that is not its documented format (HTML, broken XML, empty). */
  | 'bad-response'
  /** The provider answered with a documented error. */
  | 'rejected'
  /**
   * The provider refuses this number for `retryAfterMs` (Twilio 60203 max send attempts, 60202 max
   * check attempts: the number is locked at Twilio for 10 minutes). Not worth a retry at this
   * provider before then: the chain goes on to the next provider, and when none delivers the answer
   * is 429 RATE_LIMITED with Retry-After.
   */
  | 'rate-limited';

export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  /** The provider's name as in the routing string. */
  readonly provider: string;
  readonly kind: ProviderFailureKind;
  /** Worth another try later (throttling, 5xx, timeouts) rather than a permanent refusal. */
  readonly retryable: boolean;
  /** The provider's own error code (Twilio `60203`, Sinch `40003`, Mada `commandStatus` 88), for logs and the request row. */
  readonly providerCode: string | undefined;
  /** The HTTP status the provider answered with, where there was one. */
  readonly httpStatus: number | undefined;
  /**
   * How long to wait before asking this provider again, in ms: from the answer's `Retry-After`
   * header, or the provider's documented lock (10 min for Twilio 60202/60203). Always set for
   * `rate-limited`; set for other kinds only when the provider sent `Retry-After`.
   */
  readonly retryAfterMs: number | undefined;

  constructor(init: {
    provider: string;
    kind: ProviderFailureKind;
    retryable: boolean;
    message: string;
    providerCode?: string | number | undefined;
    httpStatus?: number | undefined;
    retryAfterMs?: number | undefined;
    cause?: unknown;
  }) {
    super(init.message, { cause: init.cause });
    this.provider = init.provider;
    this.kind = init.kind;
    this.retryable = init.retryable;
    this.providerCode = init.providerCode === undefined ? undefined : String(init.providerCode);
    this.httpStatus = init.httpStatus;
    this.retryAfterMs = init.retryAfterMs;
  }

  /** A short, secret-free line for logs and the request row's `last_error`. */
  summary(): string {
    const code = this.providerCode === undefined ? '' : `[${this.providerCode}]`;
    const http = this.httpStatus === undefined ? '' : ` http ${this.httpStatus}`;
    const wait = this.retryAfterMs === undefined ? '' : ` retry-after ${Math.ceil(this.retryAfterMs / 1000)}s`;
    return `${this.provider}${code} ${this.kind}${http}${wait}: ${this.message}`.slice(0, 500);
  }
}
