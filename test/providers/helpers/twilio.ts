/** What the Twilio provider tests share: the context, inputs, and the fake with a fresh provider per test. */
import { after, before, beforeEach } from 'node:test';
import type { ProviderContext } from '../../../lib/providers/context.js';
import type { ProviderError } from '../../../lib/providers/provider-error.js';
import { twilioProvider, type TwilioOptions } from '../../../lib/providers/twilio.js';
import type { OtpProvider, ProviderCheckInput, ProviderSendInput } from '../../../lib/types.js';
import { startTwilioFake, type TwilioFake } from '../../helpers/fakes/twilio-fake.js';
import { expectProviderError } from '../../helpers/providers.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
export const ctx: ProviderContext = { logger: silent, timeoutMs: 1500, env: {} };
export const PHONE = '+14155550100';

export function sendInput(over: Partial<ProviderSendInput> = {}): ProviderSendInput {
  return { requestId: 'req-1', phone: PHONE, channel: 'sms', code: '000000', text: 'unused', signal: AbortSignal.timeout(1500), ...over };
}
export function checkInput(code: string, over: Partial<ProviderCheckInput> = {}): ProviderCheckInput {
  return { requestId: 'req-1', phone: PHONE, channel: 'sms', code, signal: AbortSignal.timeout(1500), ...over };
}

/** Asserts a rejection is a ProviderError of Twilio and returns it for further checks. */
export const failure = (promise: Promise<unknown>): Promise<ProviderError> => expectProviderError(promise, 'Twilio');

export interface TwilioSetup {
  readonly fake: TwilioFake;
  readonly provider: OtpProvider;
  readonly options: TwilioOptions;
}

/**
 * The fake for a describe block, and a fresh provider before each test (it remembers numbers
 * Twilio locked, 60202/60203).
 */
export function useTwilio(): () => TwilioSetup {
  let fake: TwilioFake | undefined;
  let setup: TwilioSetup | undefined;
  before(async () => {
    fake = await startTwilioFake();
  });
  after(async () => {
    await fake?.close();
  });
  beforeEach(() => {
    if (fake === undefined) throw new Error('Twilio fake not started');
    fake.reset();
    const options = { accountSid: fake.accountSid, authToken: fake.authToken, verifyServiceSid: fake.serviceSid, baseUrl: fake.url };
    setup = { fake, options, provider: twilioProvider(options, ctx) };
  });
  return () => {
    if (setup === undefined) throw new Error('Twilio setup not ready');
    return setup;
  };
}
