/** The failure of one provider call, already classified for the retry logic. */

export type ProviderFailureKind =
  /** The provider did not answer within the timeout. */
  | 'timeout'
  /** The connection failed (refused, reset, DNS). */
  | 'network'
  /** The provider answered with something that is not its documented format (HTML, broken XML, empty). */
  | 'bad-response'
  /** The provider answered with a documented error. */
  | 'rejected';

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

  constructor(init: {
    provider: string;
    kind: ProviderFailureKind;
    retryable: boolean;
    message: string;
    providerCode?: string | number | undefined;
    httpStatus?: number | undefined;
    cause?: unknown;
  }) {
    super(init.message, { cause: init.cause });
    this.provider = init.provider;
    this.kind = init.kind;
    this.retryable = init.retryable;
    this.providerCode = init.providerCode === undefined ? undefined : String(init.providerCode);
    this.httpStatus = init.httpStatus;
  }

  /** A short, secret-free line for logs and the request row's `last_error`. */
  summary(): string {
    const code = this.providerCode === undefined ? '' : `[${this.providerCode}]`;
    const http = this.httpStatus === undefined ? '' : ` http ${this.httpStatus}`;
    return `${this.provider}${code} ${this.kind}${http}: ${this.message}`.slice(0, 500);
  }
}
