/**
 * What the end of a request says, in process (`ended` event) and in its webhook (`otp.verified`,
 * `otp.expired`, `otp.max_attempts_reached`, `otp.canceled`): request id, outcome, every send
 * attempt's channel and provider, the number of code checks, the destination country and the
 * times. Never a number (not even masked), a code or a token. Pure.
 */
import { checksOf, countryOf, sendAttempts, type CancelReason, type EndOutcome, type EndingRow, type RequestEnd, type SendAttempt } from './request-end.js';

export interface RequestEndedEvent {
  readonly requestId: string;
  readonly outcome: EndOutcome;
  /** Only for `canceled`: superseded by a newer code, erased by `forget`, or canceled by the app. */
  readonly reason?: CancelReason;
  readonly purpose: string;
  /** The channel and provider that delivered (null: none did). */
  readonly channel: string;
  readonly provider: string | null;
  readonly sends: readonly SendAttempt[];
  /** Code checks decided on the request (wrong codes, provider checks, the right code). */
  readonly checks: number;
  /** ISO 3166-1 alpha-2 of the destination, 'ZZ' when unknown. */
  readonly country: string;
  /** ISO 8601. */
  readonly createdAt: string;
  readonly endedAt: string;
}

export function endedEvent(row: EndingRow, end: RequestEnd, country = countryOf(row.phone)): RequestEndedEvent {
  return {
    requestId: row.requestId,
    outcome: end.outcome,
    ...(end.reason === undefined ? {} : { reason: end.reason }),
    purpose: row.purpose,
    channel: row.channel,
    provider: row.status === 'sent' ? row.provider : null,
    sends: sendAttempts(row),
    checks: checksOf(row),
    country,
    createdAt: new Date(row.createdAt).toISOString(),
    endedAt: new Date(end.endedAt).toISOString(),
  };
}

/** `verified` → `otp.verified` … */
export const endWebhookType = (outcome: EndOutcome): 'otp.verified' | 'otp.expired' | 'otp.max_attempts_reached' | 'otp.canceled' => `otp.${outcome}`;
