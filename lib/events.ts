/**
 * Typed events for logs and metrics. Listeners are called through a safe emit: a listener that
 * throws is logged and never breaks a send, a verify or the poller.
 */
import { EventEmitter } from 'node:events';
import type { Channel } from './types.js';
import type { Logger } from './types.js';
import type { RequestEndedEvent } from './core/end-event.js';
import { loggableError } from './core/safe-error.js';

export interface OtpEventMap {
  /** A send was accepted and its row committed. `phone` is masked. */
  requested: { requestId: string; channel: Channel; phone: string; chain: readonly string[] };
  /** A provider accepted the delivery. */
  sent: { requestId: string; channel: Channel; provider: string; attempt: number; latencyMs: number };
  /** One provider call failed (the chain may still go on). */
  failed: { requestId: string; channel: Channel; provider: string; attempt: number; latencyMs: number; retryable: boolean; kind: string; providerCode: string | undefined; error: string };
  /** Every provider failed; the row waits for the poller. */
  'retry-scheduled': { requestId: string; attempt: number; delayMs: number; nextAttemptAt: Date };
  /** Not delivered and not retried (permanent errors, or retry off). */
  'delivery-failed': { requestId: string; attempt: number; error: string };
  /** `maxRetries` retries spent without delivery. */
  unsendable: { requestId: string; attempts: number; error: string };
  /** The code expired before it could be delivered. */
  expired: { requestId: string; attempts: number };
  /** A provider reported the delivery of a sent code (inbound callback, `otpCallbackRouter`). */
  'delivery-report': { requestId: string; provider: string; outcome: 'delivered' | 'undelivered' };
  /** A code was verified. */
  verified: { requestId: string; provider: string | null };
  /** A verification did not succeed. */
  'verify-failed': { requestId: string | undefined; reason: string };
  /**
   * A limit refused a request (429). `limit` is the option's name (`sendsPerIp`, `verifyLock` …);
   * `key` is its bucket with any number masked (an IP or /56, a number range, a country, `global`).
   */
  'limit-hit': { limit: string; key: string; retryAfterSeconds: number; /** Monitor mode: it would have refused, the request went through. */ monitored?: boolean; channel?: Channel; /** ISO alpha-2 of the destination, when known. */ country?: string };
  /** The pumping breaker held a number range (the number without its last digits): few of its codes were verified. `level` 2+ is a renewal (doubled). */
  'range-held': { range: string; sent: number; verified: number; holdSeconds: number; level?: number; monitored?: boolean };
  /** A range hold or a number lock was lifted: by `otp.release()` / the CLI (`by: 'operator'`), or because codes to the range are verified again (`by: 'conversion'`). `target` is a range or a masked number. */
  'hold-released': { kind: 'range' | 'number'; target: string; reason: string; by: 'operator' | 'conversion' };
  /** A safe-listed request skipped the send or verify limits (lib/service/safe-list.ts). */
  'safe-listed': { kind: 'number' | 'prefix' | 'ip'; use: 'send' | 'verify'; bypassPolicy: boolean };
  /** The daily send budget ran out: fired once per budget window, on the first refused send. */
  'budget-exhausted': { limit: 'dailySendBudget'; max: number; windowSeconds: number; retryAfterSeconds: number };
  /**
   * A send was refused before anything was stored or sent: a destination outside the country lists
   * or of a blocked number type (the client got the same 202 as any other send), or a failed bot
   * challenge. `phone` is masked.
   */
  'send-refused': { reason: 'country-not-allowed' | 'country-denied' | 'non-geographic' | 'number-type' | 'challenge'; channel: Channel; phone: string; country: string | undefined; type: string | undefined; /** Monitor mode: the code was sent anyway. */ monitored?: boolean };
  /** Wrong codes locked a number (`verifyLock`: a short, doubling lock; `failureBudget`: the NIST cap). `phone` is masked. */
  'number-locked': { lock: 'verifyLock' | 'failureBudget'; phone: string; failures: number; lockSeconds: number };
  /** A purge (`otp.purge()`, or the poller's interval) deleted rows that retention no longer keeps: rows per table. */
  purged: { requests: number; failures: number; limits: number; webhooks?: number; insights?: number; durationMs: number; complete: boolean };
  /**
   * A workflow step after the first was delivered (issue 26): `step` is its index (1 = the second
   * step), `from*` the step before it (the provider null when that step was not delivered).
   */
  escalated: { requestId: string; step: number; fromChannel: Channel; toChannel: Channel; fromProvider: string | null; toProvider: string };
  /** A workflow step was not sent: a cost limit (`limit` names it), the destination policy or the routing refused it. Also the `otp.step_skipped` webhook. */
  'step-skipped': { requestId: string; step: number; channel: Channel; reason: 'limit' | 'policy' | 'unsupported'; limit?: string };
  /**
   * A request ended, exactly once across all instances (lib/service/request-ends.ts): emitted by the
   * process that claimed its end (the poller's end sweep, `forget`, `cancel`). No number, code or token.
   */
  ended: RequestEndedEvent;
  /** `otp.forget(phone)` erased a number's data (a data-subject request). `phone` is masked. */
  forgotten: { phone: string; requests: number; cancelled: number; failures: number; limits: number };
}

export type OtpEventName = keyof OtpEventMap;

export class OtpEvents {
  readonly #emitter = new EventEmitter();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
    this.#emitter.setMaxListeners(50);
  }

  on<K extends OtpEventName>(event: K, listener: (payload: OtpEventMap[K]) => void): this {
    this.#emitter.on(event, listener);
    return this;
  }

  once<K extends OtpEventName>(event: K, listener: (payload: OtpEventMap[K]) => void): this {
    this.#emitter.once(event, listener);
    return this;
  }

  off<K extends OtpEventName>(event: K, listener: (payload: OtpEventMap[K]) => void): this {
    this.#emitter.off(event, listener);
    return this;
  }

  /** Whether anything listens to `event` (work only a listener needs can then be skipped). */
  listens(event: OtpEventName): boolean {
    return this.#emitter.listenerCount(event) > 0;
  }

  /** Never throws: a failing listener is logged and the others still run. */
  emit<K extends OtpEventName>(event: K, payload: OtpEventMap[K]): void {
    for (const listener of this.#emitter.rawListeners(event)) {
      try {
        (listener as (p: OtpEventMap[K]) => void)(payload);
      } catch (error) {
        this.#logger.error({ event, err: loggableError(error) }, 'otp event listener threw');
      }
    }
  }
}
