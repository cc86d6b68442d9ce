/** The bundled retry poller (placeholder: implemented in issue 4). */
import type { KitContext } from '../service/context.js';

export interface RetryPollerOptions {
  /** How often to look for due rows, in ms. @default 1000 */
  readonly pollInterval?: number;
  /** Rows claimed per poll. @default 10 */
  readonly batchSize?: number;
  /** Sends in flight at once. @default 10 */
  readonly concurrency?: number;
}

export interface RetryPoller {
  /** Finishes in-flight sends, releases unstarted claims, stops the timer. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export function startRetryPoller(_ctx: KitContext, _options: RetryPollerOptions = {}): RetryPoller {
  throw new Error('retry poller: not implemented yet');
}
