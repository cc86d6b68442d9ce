/** In-process providers for service tests (they record calls and fail on demand), and a check for provider failures. */
import assert from 'node:assert/strict';
import { ProviderError } from '../../lib/providers/provider-error.js';
import type { Channel, OtpProvider, ProviderSendInput } from '../../lib/types.js';

export interface RecordingProvider extends OtpProvider {
  readonly calls: ProviderSendInput[];
  /** 'ok', 'retryable' (throttled) or 'permanent' (bad number); shift()ed per call, last one sticks. */
  plan: ('ok' | 'retryable' | 'permanent')[];
}

export function recordingProvider(name: string, channels: readonly Channel[] = ['sms', 'call']): RecordingProvider {
  const provider: RecordingProvider = {
    name,
    channels,
    ownsCode: false,
    calls: [],
    plan: ['ok'],
    send(input) {
      provider.calls.push(input);
      const step = provider.plan.length > 1 ? provider.plan.shift() : provider.plan[0];
      if (step === 'retryable') return Promise.reject(new ProviderError({ provider: name, kind: 'rejected', retryable: true, message: 'throttled', httpStatus: 429 }));
      if (step === 'permanent') return Promise.reject(new ProviderError({ provider: name, kind: 'rejected', retryable: false, message: 'bad destination', httpStatus: 400 }));
      return Promise.resolve({ ref: `${name}-${provider.calls.length}` });
    },
  };
  return provider;
}

/** The code a recording provider delivered last. */
export function lastCodeOf(provider: RecordingProvider): string {
  const call = provider.calls.at(-1);
  if (call === undefined) throw new Error(`${provider.name} delivered nothing`);
  return call.code;
}

/**
 * Awaits `work` (a promise, or a function returning one), expects it to fail with a ProviderError
 * (of `provider`, when given) and returns the error for further checks.
 */
export async function expectProviderError(work: Promise<unknown> | (() => Promise<unknown>), provider?: string): Promise<ProviderError> {
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (error) {
    assert.ok(error instanceof ProviderError, `expected a ProviderError, got ${String(error)}`);
    if (provider !== undefined) assert.equal(error.provider, provider);
    return error;
  }
  assert.fail('expected a rejection');
}
