/** What the Mada provider tests share: a recording logger, the provider context, a send input, and the leak check. */
import assert from 'node:assert/strict';
import { after, before, beforeEach } from 'node:test';
import type { ProviderContext } from '../../../lib/providers/context.js';
import type { MadaOptions } from '../../../lib/providers/mada.js';
import type { ProviderError } from '../../../lib/providers/provider-error.js';
import type { Logger, ProviderSendInput } from '../../../lib/types.js';
import { startMadaFake, type MadaFake } from '../../helpers/fakes/mada-fake.js';

export interface LogEntry {
  readonly level: string;
  readonly obj: object | string;
  readonly msg: string | undefined;
}

export function recordingLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: string) => (obj: object | string, msg?: string) => {
    entries.push({ level, obj, msg });
  };
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function context(logger: Logger = recordingLogger()): ProviderContext {
  return { logger, timeoutMs: 5000, env: {} };
}

export const PHONE = '+359871234567';
export const CODE = '48213';

export function input(overrides: Partial<ProviderSendInput> = {}): ProviderSendInput {
  return { requestId: 'req-1', phone: PHONE, channel: 'sms', code: CODE, text: `Your code is ${CODE}`, signal: AbortSignal.timeout(5000), ...overrides };
}

/** No error message may carry the password, the text or the code. */
export function assertNoSecrets(error: ProviderError, options: MadaOptions): void {
  for (const secret of [options.password, CODE, 'Your code is']) {
    assert.ok(!error.message.includes(secret), `error message leaks ${secret}: ${error.message}`);
    assert.ok(!error.summary().includes(secret), `error summary leaks ${secret}`);
  }
}

/** The Mada fake for a describe block: started before, closed after, reset before each test. */
export function useMadaFake(): () => MadaFake {
  let fake: MadaFake | undefined;
  before(async () => {
    fake = await startMadaFake({ password: 'p@ss<&>"word' });
  });
  after(async () => {
    await fake?.close();
  });
  beforeEach(() => {
    fake?.reset();
    fake?.setReplies([], 0);
  });
  return () => {
    if (fake === undefined) throw new Error('Mada fake not started');
    return fake;
  };
}
