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
