/**
 * Test numbers (app-store review, end-to-end tests): numbers with a fixed code and an expiry date.
 * Their option type, schema and parsing; pure. Where they are read from and what a send to one
 * does is lib/service/test-numbers.ts.
 */
import Joi from 'joi';
import { configError } from '../errors.js';
import { MAX_CODE_LENGTH, MIN_CODE_LENGTH } from './patterns.js';
import { canonicalPhone } from './phone.js';

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
  code: Joi.string().pattern(new RegExp(`^[0-9]{${MIN_CODE_LENGTH},${MAX_CODE_LENGTH}}$`)).required(),
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

