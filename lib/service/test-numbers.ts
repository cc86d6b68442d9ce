/**
 * Where test numbers come from: the `testNumbers` option, or the `otp_test_numbers` settings row
 * (JSON), re-read like the routing row (lib/storage/settings.ts). Refused in production unless
 * `allowInProduction` is set. A send to a live test number stores a request with the fixed code's
 * digest and calls no provider (lib/service/send.ts); it counts against no limit.
 */
import type { Knex } from 'knex';
import { parseTestNumbers, TEST_NUMBERS_SETTING_KEY, type TestNumber, type TestNumberInput, type TestNumbersOptions } from '../core/test-numbers.js';
import { configError } from '../errors.js';
import type { ResolvedOtpConfig } from '../options.js';
import { cachedSetting } from '../storage/settings.js';
import { loggableError } from '../core/safe-error.js';

export interface TestNumberSource {
  /** The live test number for an E.164 number, if any. */
  lookup(e164: string): Promise<TestNumber | undefined>;
  /** Validates and stores the list in the settings row. */
  write(list: readonly TestNumberInput[]): Promise<void>;
}

export function createTestNumberSource(config: ResolvedOtpConfig, knex: Knex, options: TestNumbersOptions | undefined): TestNumberSource {
  const allowed = !config.production || options?.allowInProduction === true;
  if (!allowed && options?.numbers !== undefined && options.numbers.length > 0) {
    throw configError('testNumbers: test numbers are refused when NODE_ENV=production; set testNumbers.allowInProduction: true if you really need them (e.g. for app-store review)');
  }
  const fixed = options?.numbers === undefined ? undefined : parseTestNumbers(options.numbers, config.codeLength, 'the `testNumbers` option');
  const stored = cachedSetting<readonly TestNumber[]>({
    knex,
    tables: config.tables,
    key: TEST_NUMBERS_SETTING_KEY,
    refreshMs: config.settingsRefreshMs,
    clock: config.clock,
    initial: [],
    parse: (raw) => (raw === undefined || raw.trim() === '' ? [] : parseTestNumbers(JSON.parse(raw) as unknown, config.codeLength, `the "${TEST_NUMBERS_SETTING_KEY}" settings row`)),
    onIgnored: (error) => config.logger.error({ setting: TEST_NUMBERS_SETTING_KEY, err: loggableError(error) }, 'ignoring an invalid test-numbers setting'),
  });

  return {
    async lookup(e164) {
      if (!allowed) return undefined;
      const list = fixed ?? (await stored.current());
      const now = config.clock();
      return list.find((entry) => entry.phone === e164 && entry.validUntil > now);
    },
    async write(list) {
      const parsed = parseTestNumbers(list, config.codeLength, 'setTestNumbers()');
      await stored.write(JSON.stringify(parsed.map((e) => ({ phone: e.phone, code: e.code, validUntil: new Date(e.validUntil).toISOString() }))));
    },
  };
}
