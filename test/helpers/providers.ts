/** In-process providers for service tests: they record calls and fail on demand. */
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
