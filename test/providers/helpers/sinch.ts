/** What the Sinch provider tests share: the context, inputs, and the fake with one provider per describe block. */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach } from 'node:test';
import type { ProviderContext } from '../../../lib/providers/context.js';
import { sinchProvider, type SinchOptions } from '../../../lib/providers/sinch.js';
import type { OtpProvider, ProviderCheckInput, ProviderSendInput } from '../../../lib/types.js';
import { startSinchFake, type SinchFake } from '../../helpers/fakes/sinch-fake.js';

const noop = (): void => undefined;
export const ctx: ProviderContext = { logger: { debug: noop, info: noop, warn: noop, error: noop }, timeoutMs: 2000, env: {} };
export const PHONE = '+46700000001';

export function sendInput(over: Partial<ProviderSendInput> = {}): ProviderSendInput {
  return { requestId: 'req-1', phone: PHONE, channel: 'sms', code: '000000', text: 'unused', signal: new AbortController().signal, ...over };
}
export function checkInput(code: string, over: Partial<ProviderCheckInput> = {}): ProviderCheckInput {
  return { requestId: 'req-1', phone: PHONE, channel: 'sms', code, signal: new AbortController().signal, ...over };
}

export interface SinchSetup {
  readonly fake: SinchFake;
  readonly provider: OtpProvider;
  readonly options: () => SinchOptions;
}

/**
 * The fake and one provider for a describe block; the fake is reset before each test, and after each
 * every request the SDK sent must have matched the documented protocol (path, headers, signature, body).
 */
export function useSinch(): () => SinchSetup {
  let setup: SinchSetup | undefined;
  before(async () => {
    const fake = await startSinchFake();
    const options = (): SinchOptions => ({ applicationKey: fake.applicationKey, applicationSecret: fake.applicationSecret, baseUrl: fake.url });
    setup = { fake, options, provider: sinchProvider(options(), ctx) };
  });
  after(async () => {
    await setup?.fake.close();
  });
  beforeEach(() => {
    setup?.fake.reset();
  });
  afterEach(() => {
    assert.deepEqual(setup?.fake.problems, []);
  });
  return () => {
    if (setup === undefined) throw new Error('Sinch fake not started');
    return setup;
  };
}
