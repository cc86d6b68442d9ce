/** Small pure rules of the limits: lock escalation and Retry-After values. */
import type { VerifyLock } from './config.js';

/**
 * The lock after the `level`-th lock of a number within the escalation window: `lockSeconds`,
 * doubling per level, never above `maxLockSeconds` (NIST SP 800-63B: waits from 30 seconds up to
 * an hour). Never decreases as the level grows.
 */
export function lockSecondsFor(level: number, lock: Pick<VerifyLock, 'lockSeconds' | 'maxLockSeconds'>): number {
  const steps = Math.max(0, Math.min(30, Math.floor(level) - 1));
  return Math.min(lock.maxLockSeconds, lock.lockSeconds * 2 ** steps);
}

/** A `Retry-After` value in whole seconds: rounded up, at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** What a limit over its count does: refuse the request, or (monitor mode) let it through and say so. */
export type LimitVerdict = 'refuse' | 'monitor';

/** Pure: the verdict of a limit (or of `destinations`, the destination policy) that would refuse. */
export function limitVerdict(name: string, monitor: ReadonlySet<string>): LimitVerdict {
  return monitor.has(name) ? 'monitor' : 'refuse';
}

/**
 * Pure: how long the `level`-th consecutive hold of a number range lasts (the breaker's renewing
 * holds): `holdSeconds` the first time, doubling with every renewal, never above `maxHoldSeconds`.
 */
export function nextHoldSeconds(level: number, holdSeconds: number, maxHoldSeconds: number): number {
  const steps = Math.max(0, Math.min(30, Math.floor(level) - 1));
  return Math.max(1, Math.min(Math.max(maxHoldSeconds, holdSeconds), holdSeconds * 2 ** steps));
}

/** Pure: whether a range's conversion is low enough to hold it (the breaker would trip). */
export function conversionLow(sent: number, verified: number, breaker: { readonly minSends: number; readonly minRatio: number }): boolean {
  return sent >= breaker.minSends && verified / sent < breaker.minRatio;
}
