/**
 * Fraud-guard test instances: createOtp on a shared test database with the recording provider (so a
 * test reads each code "from the phone" and counts provider calls), the real clock (counter windows
 * and hold rows agree), every event of interest captured. Several kits on one database are several
 * app instances.
 */
import assert from 'node:assert/strict';
import { createOtp, type Otp, type OtpEventMap, type OtpEventName, type OtpOptions } from '../../../lib/index.js';
import type { ProviderSendInput } from '../../../lib/types.js';
import type { TestDatabase } from '../../helpers/db.js';
import { captureLogger, TEST_SECRET } from '../../helpers/kit.js';
import { recordingProvider } from './attack-app.js';

const WATCHED: readonly OtpEventName[] = ['limit-hit', 'send-refused', 'range-held', 'hold-released', 'safe-listed', 'number-locked', 'verified'];

export interface FraudKit {
  readonly otp: Otp;
  readonly sends: ProviderSendInput[];
  readonly logs: string[];
  sendsTo(phone: string): number;
  codeFor(phone: string): string;
  eventsNamed<K extends OtpEventName>(name: K): OtpEventMap[K][];
  clearEvents(): void;
}

export async function fraudKit(db: TestDatabase, options: OtpOptions = {}): Promise<FraudKit> {
  const sends: ProviderSendInput[] = [];
  const logs: string[] = [];
  const events: { name: OtpEventName; payload: unknown }[] = [];
  const otp = createOtp({ db: db.knex, secret: TEST_SECRET, providers: ['Recorder'], customProviders: [recordingProvider(sends)], logger: captureLogger(logs), env: {}, ...options });
  await otp.migrate();
  for (const name of WATCHED) otp.events.on(name, (payload) => events.push({ name, payload }));
  return {
    otp,
    sends,
    logs,
    sendsTo: (phone) => sends.filter((s) => s.phone === phone).length,
    codeFor(phone) {
      const last = sends.filter((s) => s.phone === phone).at(-1);
      assert.ok(last !== undefined, `no code was delivered to ${phone}`);
      return last.code;
    },
    eventsNamed<K extends OtpEventName>(name: K) {
      return events.filter((e) => e.name === name).map((e) => e.payload as OtpEventMap[K]);
    },
    clearEvents() {
      events.splice(0);
    },
  };
}

/** Every limit off but the ones a test names (so one limit is watched at a time). */
export const QUIET_LIMITS = {
  sendCooldownSeconds: false,
  channelSwitchCooldownSeconds: false,
  sendsPerNumber: false,
  sendsPerIp: false,
  sendsPerPrefix: false,
  sendsPerCountry: false,
  dailySendBudget: false,
  verifiesPerIp: false,
  verifyLock: false,
  conversionBreaker: false,
} as const;

/** Resolves to the OtpError `fn` throws (fails when it does not throw). */
export async function errorOf(fn: () => Promise<unknown>): Promise<{ code: string; message: string; status: number; details: Readonly<Record<string, unknown>> }> {
  try {
    await fn();
  } catch (error) {
    return error as { code: string; message: string; status: number; details: Readonly<Record<string, unknown>> };
  }
  assert.fail('expected an error');
}

export const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
