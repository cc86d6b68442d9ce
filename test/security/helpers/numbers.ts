/** Phone numbers for the attack suite, checked against libphonenumber-js full metadata. */
import { randomInt } from 'node:crypto';

/** One sample of each number type refused by default (security #25). */
export const BLOCKED_SAMPLES = {
  PREMIUM_RATE: '+449098765432',
  SHARED_COST: '+33810123456',
  TOLL_FREE: '+448001234567',
  VOIP: '+445612345678',
  PAGER: '+447640123456',
  VOICEMAIL: '+41860123456789',
} as const;

const pad4 = (n: number): string => String(n % 10_000).padStart(4, '0');

let nextBlock = randomInt(1000, 9000);

/** A fresh number range (German mobile `+49151XXXX`) no other test of the process uses. */
export function freshRange(): number {
  nextBlock = (nextBlock + 1) % 10_000;
  return nextBlock;
}

/** The `i`-th valid German mobile number of range `block`: `+49151<block><i>` (range = all but the last 4 digits). */
export function mobile(block: number, i = 0): string {
  return `+49151${pad4(block)}${pad4(i)}`;
}

/** A fresh valid mobile number. */
export function freshMobile(): string {
  return mobile(freshRange(), 1234);
}
