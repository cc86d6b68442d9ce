/**
 * Retry delays: exponential from `baseMs` (the seed's 0.5 s), doubled per retry, capped, with
 * "equal jitter" (half fixed, half random) so retries of many rows spread out. Pure.
 */
export interface BackoffOptions {
  /** Delay before the first retry. @default 500 */
  readonly baseMs: number;
  /** Upper bound of any delay. @default 60000 */
  readonly maxMs: number;
  /** Fraction of the delay that is random (0 = none). @default 0.5 */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 60_000, jitter: 0.5 };

/**
 * Delay before retry number `retry` (1 = the first retry after the initial attempt).
 * `random` returns a float in [0, 1) (inject a fixed one in tests).
 */
export function retryDelayMs(retry: number, options: BackoffOptions, random: () => number): number {
  const exponent = Math.max(0, Math.min(retry - 1, 40));
  const raw = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  const fixed = raw * (1 - options.jitter);
  return Math.round(fixed + raw * options.jitter * random());
}
