/**
 * The fraud guard's parts of the service: the hold keeper (renewing range holds, release and
 * listing: lib/limits/holds.ts), the safe list (lib/service/safe-list.ts) and the verify budget of
 * safe-listed requests (no limit at all), and the public methods `holds()`, `release()` and
 * `setSafeList()` over them.
 */
import type { Knex } from 'knex';
import type { SafeListInput } from '../core/safe-list.js';
import { canonicalPhone } from '../core/phone.js';
import { OtpError } from '../errors.js';
import type { OtpEvents } from '../events.js';
import { resolveLimits } from '../limits/config.js';
import { createCounterSet, type CounterSet } from '../limits/counters.js';
import { createHoldKeeper, type HoldKeeper, type HoldView, type ReleaseResult } from '../limits/holds.js';
import { createVerifyBudget, type VerifyBudget } from '../limits/verify-budget.js';
import type { ResolvedOtpConfig } from '../options.js';
import { writeMonitoredWebhooks } from './monitor-webhooks.js';
import { createSafeListSource, type SafeListSource } from './safe-list.js';

export type { HoldView, ReleaseResult } from '../limits/holds.js';

export interface FraudGuardParts {
  readonly holds: HoldKeeper;
  readonly safeList: SafeListSource;
  /** The verify budget of a safe-listed request: every limit off. */
  readonly safeBudget: VerifyBudget;
}

export interface FraudGuardMethods {
  /** Current range holds of the pumping breaker and number locks (numbers masked), with reason, since and until. */
  holds(): Promise<HoldView[]>;
  /** Lifts the hold of a number range (`'+4915177'`) or the locks of a number (E.164); `{ released: false }` when there is none. */
  release(rangeOrNumber: string): Promise<ReleaseResult>;
  /** Validates (OtpError VALIDATION_FAILED naming the bad entry) and writes the `otp_safe_list` settings row. */
  setSafeList(list: SafeListInput): Promise<void>;
}

export function buildFraudGuard(config: ResolvedOtpConfig, knex: Knex, counters: CounterSet, events: OtpEvents): FraudGuardParts {
  const { fraudGuard, tables, logger, clock, webhooks } = config;
  const holds = createHoldKeeper(
    knex,
    { limits: config.limits, tables, logger, clock, webhooks, maxHoldSeconds: fraudGuard.maxHoldSeconds, monitored: fraudGuard.monitor.has('conversionBreaker'), refreshMs: config.settingsRefreshMs },
    counters,
    events,
  );
  const off = resolveLimits(false);
  const none = createCounterSet(knex, { limits: off, tables, logger, batching: false }, events);
  const safeBudget = createVerifyBudget(knex, { limits: off, tables, maxAttempts: config.maxAttempts, clock, logger, webhooks, quiet: true }, none, events);
  writeMonitoredWebhooks(knex, config, events);
  return { holds, safeList: createSafeListSource(config, knex, events), safeBudget };
}

const TARGET = /^\+[1-9][0-9]{1,14}$/;

/** `otp.release()`: a held range first, else the number's locks; bad input is a 400, an unknown target a plain answer. */
async function release(parts: FraudGuardParts, input: unknown): Promise<ReleaseResult> {
  const target = typeof input === 'string' ? input.replace(/[\s().-]/g, '') : '';
  if (!TARGET.test(target)) {
    throw new OtpError('VALIDATION_FAILED', 'release(): expected a number range such as "+4915177" (as otp.holds() lists it) or a full number in international format', { field: 'rangeOrNumber' });
  }
  const range = await parts.holds.release(target, 'range');
  if (range.released) return range;
  const phone = canonicalPhone(target)?.e164;
  return phone === undefined ? range : parts.holds.release(phone, 'number');
}

export function fraudGuardMethods(parts: FraudGuardParts): FraudGuardMethods {
  return {
    holds: () => parts.holds.list(),
    release: (target) => release(parts, target),
    setSafeList: (list) => parts.safeList.write(list),
  };
}
