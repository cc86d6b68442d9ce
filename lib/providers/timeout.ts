/**
 * Runs one provider call under a deadline. The call gets an AbortSignal to pass on where the SDK
 * accepts one; the race makes sure a call that ignores the signal still counts as failed in time.
 * Every failure comes out classified (lib/providers/classify.ts).
 */
import { classifyProviderError } from './classify.js';
import type { ProviderError } from './provider-error.js';

export async function callProvider<T>(provider: string, timeoutMs: number, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error(`${provider}: no answer within ${timeoutMs} ms`));
      reject(new Error(`${provider}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([call(controller.signal), deadline]);
  } catch (error) {
    throw classifyProviderError(provider, error, timedOut) satisfies ProviderError;
  } finally {
    clearTimeout(timer);
  }
}
