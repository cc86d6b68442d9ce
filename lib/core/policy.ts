/**
 * Verification policy: decides from a request row (and the clock) whether a verify can go ahead,
 * and which stable code explains a refusal. Pure; the atomic UPDATEs in storage repeat the same
 * conditions so a concurrent change between read and write can never be overruled.
 */
import type { DeliveryStatus, VerifyFailureCode } from '../types.js';

export interface RequestState {
  readonly status: DeliveryStatus;
  readonly verifyStatus: 'pending' | 'verified' | 'superseded';
  readonly attempts: number;
  readonly expiresAt: number;
}

/** Delivery states in which the holder of the number may have the code. */
const VERIFIABLE: ReadonlySet<DeliveryStatus> = new Set(['sent', 'sending', 'queued']);

/** Undefined when the request is live and a code may be checked; otherwise the refusal. */
export function refusal(state: RequestState | undefined, nowMs: number, maxAttempts: number): VerifyFailureCode | undefined {
  if (state === undefined) return 'OTP_NOT_FOUND';
  if (state.verifyStatus !== 'pending') return 'OTP_NOT_FOUND';
  if (state.attempts >= maxAttempts) return 'OTP_TOO_MANY_ATTEMPTS';
  if (state.status === 'expired' || state.expiresAt <= nowMs) return 'OTP_EXPIRED';
  if (!VERIFIABLE.has(state.status)) return 'OTP_NOT_FOUND';
  return undefined;
}
