/**
 * The retention purge on an interval, run by the bundled poller (`purgeInterval`). Chained,
 * unref'd timers: never two runs at once in a process, nothing keeps the process alive, and
 * `stop()` aborts a run between two batches and waits for it.
 */
import { loggableError } from '../core/safe-error.js';
import type { Logger } from '../types.js';

export interface PurgeTimer {
  stop(): Promise<void>;
}

export function startPurgeTimer(run: (signal: AbortSignal) => Promise<unknown>, intervalMs: number, logger: Logger, failure = 'otp purge: the retention purge failed; it runs again at the next interval'): PurgeTimer {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  function schedule(): void {
    if (abort.signal.aborted) return;
    timer = setTimeout(tick, intervalMs);
    timer.unref();
  }

  function tick(): void {
    timer = undefined;
    running = run(abort.signal)
      .then(
        () => undefined,
        (error: unknown) => {
          logger.warn({ err: loggableError(error) }, failure);
        },
      )
      .finally(() => {
        running = undefined;
        schedule();
      });
  }

  schedule();
  return {
    async stop() {
      abort.abort();
      clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
