/**
 * Test numbers (app-store review, end-to-end tests): numbers with a fixed code and an expiry date.
 * A send to a live test number stores a request with the fixed code's digest and calls no provider;
 * it counts against no limit. They come from the `testNumbers` option or the `otp_test_numbers`
 * settings row (JSON), re-read like the routing row, and are refused in production unless
 * `allowInProduction` is set.
 */
import Joi from 'joi';
import type { Knex } from 'knex';
import { canonicalPhone } from '../core/phone.js';
import { configError } from '../errors.js';
import type { ResolvedOtpConfig } from '../options.js';
import { readSetting, writeSetting } from '../storage/queries.js';

export const TEST_NUMBERS_SETTING_KEY = 'otp_test_numbers';
/** The `provider` of a test number's request row. */
export const TEST_NUMBER_PROVIDER = 'TestNumber';
/** Like Firebase's limit: a handful of numbers, not a back door. */
export const MAX_TEST_NUMBERS = 10;

export interface TestNumberInput {
  /** The number, in international format. */
  readonly phone: string;
  /** The fixed code (digits, the configured code length). */
  readonly code: string;
  /** After this moment the number is an ordinary number again. */
  readonly validUntil: Date | string;
}

export interface TestNumber {
  readonly phone: string;
  readonly code: string;
  readonly validUntil: number;
}

export interface TestNumbersOptions {
  readonly numbers?: readonly TestNumberInput[];
  /** Test numbers are ignored (and the option refused) when NODE_ENV=production unless this is true. @default false */
  readonly allowInProduction?: boolean;
}

const entrySchema = Joi.object({
  phone: Joi.string().max(32).required(),
  code: Joi.string().pattern(/^[0-9]{6,10}$/).required(),
  validUntil: Joi.alternatives(Joi.date(), Joi.string().isoDate()).required(),
});

export const testNumbersOptionsSchema = Joi.object<TestNumbersOptions>({
  numbers: Joi.array().items(entrySchema).max(MAX_TEST_NUMBERS),
  allowInProduction: Joi.boolean(),
});

/** Validates a list (from the option or the settings row) into canonical entries; throws naming the bad entry. */
export function parseTestNumbers(list: unknown, codeLength: number, from: string): TestNumber[] {
  const result = Joi.array().items(entrySchema).max(MAX_TEST_NUMBERS).validate(list, { convert: true });
  const error: Joi.ValidationError | undefined = result.error;
  const value: unknown = result.value;
  if (error !== undefined) throw configError(`test numbers from ${from}: ${error.message} (a list of at most ${MAX_TEST_NUMBERS} { phone, code, validUntil })`);
  const entries = value as { phone: string; code: string; validUntil: Date | string }[];
  return entries.map((entry, index) => {
    const phone = canonicalPhone(entry.phone)?.e164;
    if (phone === undefined) throw configError(`test numbers from ${from}: entry ${index} has an invalid phone "${entry.phone}"`);
    if (entry.code.length !== codeLength) throw configError(`test numbers from ${from}: entry ${index} needs a ${codeLength}-digit code (codeLength)`);
    const validUntil = new Date(entry.validUntil).getTime();
    return { phone, code: entry.code, validUntil };
  });
}

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
  let cached: TestNumber[] = [];
  let readAt = Number.NEGATIVE_INFINITY;
  let inflight: Promise<TestNumber[]> | undefined;

  const load = async (): Promise<TestNumber[]> => {
    const raw = await readSetting(knex, config.tables, TEST_NUMBERS_SETTING_KEY);
    try {
      cached = raw === undefined || raw.trim() === '' ? [] : parseTestNumbers(JSON.parse(raw) as unknown, config.codeLength, `the "${TEST_NUMBERS_SETTING_KEY}" settings row`);
    } catch (error) {
      config.logger.error({ setting: TEST_NUMBERS_SETTING_KEY, err: error instanceof Error ? error.message : String(error) }, 'ignoring an invalid test-numbers setting');
    }
    readAt = config.clock();
    return cached;
  };

  const current = async (): Promise<readonly TestNumber[]> => {
    if (fixed !== undefined) return fixed;
    if (config.clock() - readAt < config.settingsRefreshMs) return cached;
    inflight ??= load().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };

  return {
    async lookup(e164) {
      if (!allowed) return undefined;
      const now = config.clock();
      return (await current()).find((entry) => entry.phone === e164 && entry.validUntil > now);
    },
    async write(list) {
      const parsed = parseTestNumbers(list, config.codeLength, 'setTestNumbers()');
      await writeSetting(knex, config.tables, TEST_NUMBERS_SETTING_KEY, JSON.stringify(parsed.map((e) => ({ phone: e.phone, code: e.code, validUntil: new Date(e.validUntil).toISOString() }))));
      readAt = Number.NEGATIVE_INFINITY;
    },
  };
}
