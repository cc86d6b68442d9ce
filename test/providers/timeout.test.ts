import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectProviderError } from '../helpers/providers.js';
import { callProvider } from '../../lib/providers/timeout.js';

/** Settles long after the deadlines below (a held timer also keeps the test's event loop alive). */
const slowCall = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 400));

describe('callProvider (provider deadline)', () => {
  it('answers with the call when it settles in time', async () => {
    assert.equal(await callProvider('Fast', 1_000, () => Promise.resolve('ok')), 'ok');
  });

  it('aborts the signal a call holds when the deadline passes, and fails as a retryable timeout', async () => {
    let held: AbortSignal | undefined;
    const error = await expectProviderError(
      callProvider('Slow', 50, (signal) => {
        held = signal;
        return slowCall();
      }),
    );
    assert.equal(error.kind, 'timeout');
    assert.equal(error.retryable, true);
    assert.equal(held?.aborted, true);
    assert.match(String((held?.reason as Error | undefined)?.message), /Slow: no answer within 50 ms/);
  });

  it('times out a call that ignores its signal', async () => {
    const error = await expectProviderError(callProvider('Deaf', 30, () => slowCall()));
    assert.equal(error.kind, 'timeout');
  });

  it('leaves the signal alone when the call answers in time', async () => {
    let held: AbortSignal | undefined;
    await callProvider('Quick', 30, (signal) => {
      held = signal;
      return Promise.resolve();
    });
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(held?.aborted, false);
  });

  it('classifies what the call throws', async () => {
    const error = await expectProviderError(callProvider('Broken', 1_000, () => Promise.reject(new Error('boom'))));
    assert.equal(error.provider, 'Broken');
    assert.equal(error.kind, 'bad-response');
  });
});
