/**
 * The loop both bundled pollers run (retry table, webhook outbox): claim due items, start each
 * (at most `concurrency` at a time), poll again at once while a claim came back full, back off
 * after claim failures, and stop cleanly. Timers are unref'd and chained, so polls never overlap
 * and nothing keeps the process alive.
 */
import { loggableError } from '../core/safe-error.js';
import { isOtpError } from '../errors.js';
import type { Logger } from '../types.js';

/** Longest wait between polls after repeated claim failures (database down). */
const MAX_ERROR_BACKOFF_MS = 30_000;

export interface PollLoopSpec<T> {
  /** For log lines: `otp retry poller`, `otp webhook poller`. */
  readonly name: string;
  readonly pollInterval: number;
  readonly concurrency: number;
  readonly logger: Logger;
  /** Claims up to `limit` due items under a lease. */
  claim(limit: number): Promise<readonly T[]>;
  /** Hands back items claimed while stop() was called (they were never started). */
  release(items: readonly T[]): Promise<void>;
  /** The work of one item; a rejection is ignored (log inside). */
  run(item: T): Promise<void>;
}

export interface PollLoop {
  /** Finishes the work in flight, releases claimed items it has not started, stops. Idempotent. */
  readonly stop: () => Promise<void>;
}

export function startPollLoop<T>(spec: PollLoopSpec<T>): PollLoop {
  const { logger, concurrency, pollInterval } = spec;
  let stopping = false;
  let halted = false;
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;
  /** The last claim filled its limit: more items are probably due, poll again as soon as a slot frees. */
  let backlog = false;
  let failures = 0;
  const inFlight = new Set<Promise<void>>();

  function start(item: T): void {
    // Never rejects, even if a logger throws: a slot must always be given back.
    const run = spec.run(item).catch(() => undefined);
    inFlight.add(run);
    void run.then(() => {
      inFlight.delete(run);
      wake();
    });
  }

  async function poll(): Promise<void> {
    const free = concurrency - inFlight.size;
    if (free <= 0) return;
    try {
      const items = await spec.claim(free);
      failures = 0;
      backlog = items.length === free;
      if (stopping) {
        // stop() was called while this claim was in flight: hand the items straight back.
        await spec.release(items).catch((error: unknown) => {
          logger.error({ err: loggableError(error) }, `${spec.name}: releasing unstarted claims failed; they are taken over when their lease runs out`);
        });
        return;
      }
      for (const item of items) start(item);
    } catch (error) {
      backlog = false;
      failures += 1;
      if (isOtpError(error) && error.code === 'CONFIG_INVALID') {
        halted = true;
        logger.error({ err: error.message }, `${spec.name}: stopped`);
        return;
      }
      logger.error({ err: loggableError(error), failures }, `${spec.name}: claiming due items failed; trying again`);
    }
  }

  function schedule(delayMs: number): void {
    if (stopping || halted || timer !== undefined || polling !== undefined) return;
    timer = setTimeout(tick, delayMs);
    timer.unref();
  }

  function tick(): void {
    timer = undefined;
    if (stopping || halted) return;
    polling = poll()
      .catch(() => undefined)
      .then(afterPoll);
  }

  function afterPoll(): void {
    polling = undefined;
    // All slots busy: the next finishing item wakes the loop.
    if (inFlight.size >= concurrency) return;
    if (failures > 0) schedule(Math.min(MAX_ERROR_BACKOFF_MS, pollInterval * 2 ** Math.min(failures - 1, 10)));
    else schedule(backlog ? 0 : pollInterval);
  }

  /** An item finished: with a backlog poll at once, else make sure a poll is scheduled. */
  function wake(): void {
    if (stopping || halted || polling !== undefined) return;
    if (backlog && timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    schedule(backlog ? 0 : pollInterval);
  }

  schedule(0);

  return {
    stop() {
      stopped ??= (async () => {
        stopping = true;
        clearTimeout(timer);
        timer = undefined;
        await polling;
        await Promise.all(inFlight);
      })();
      return stopped;
    },
  };
}
