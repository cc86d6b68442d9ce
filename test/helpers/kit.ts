/**
 * A kit on a test database with a controllable clock, the Console provider writing into an array
 * (so tests "read the SMS"), and every log line captured (so tests can prove what never appears).
 */
import { createOtp, type Otp } from '../../lib/index.js';
import type { OtpOptions } from '../../lib/options.js';
import type { Logger } from '../../lib/types.js';
import type { TestDatabase } from './db.js';

export const TEST_SECRET = 'test-secret-0123456789-abcdefghijklmnop';

export interface ManualClock {
  readonly now: () => number;
  readonly advance: (ms: number) => void;
  readonly set: (ms: number) => void;
}

export function manualClock(start = Date.UTC(2026, 10, 25, 12, 0, 0)): ManualClock {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; }, set: (ms) => { t = ms; } };
}

export interface TestKit {
  readonly otp: Otp;
  readonly clock: ManualClock;
  /** Lines the Console provider printed (`OTP 123456 for +35987*****67`). */
  readonly delivered: string[];
  /** Every log line, serialised. */
  readonly logs: string[];
  /** The code of the last delivery (optionally to a masked number). */
  lastCode(): string;
}

export function captureLogger(logs: string[]): Logger {
  const write = (level: string) => (obj: object | string, msg?: string) => {
    logs.push(`${level} ${typeof obj === 'string' ? obj : JSON.stringify(obj)} ${msg ?? ''}`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

export async function createTestKit(db: TestDatabase, options: OtpOptions = {}): Promise<TestKit> {
  const clock = manualClock();
  const delivered: string[] = [];
  const logs: string[] = [];
  const otp = createOtp({
    db: db.knex,
    secret: TEST_SECRET,
    providers: ['Console'],
    console: { write: (line) => delivered.push(line) },
    logger: captureLogger(logs),
    clock: clock.now,
    env: {},
    // Core behaviour is tested apart from the abuse limits (test/security covers those).
    limits: false,
    ...options,
  });
  await otp.migrate();
  return {
    otp,
    clock,
    delivered,
    logs,
    lastCode() {
      const line = delivered.at(-1);
      const match = line === undefined ? null : /^OTP ([0-9]+) for /.exec(line);
      if (match?.[1] === undefined) throw new Error('nothing was delivered');
      return match[1];
    },
  };
}
