/** Abuse and attack resistance: send and verify limits, destination policy, bot challenge hook. */
export {
  DEFAULT_BLOCKED_TYPES,
  LIMIT_DEFAULTS,
  destinationOptionsSchema,
  limitOptionsSchema,
  resolveDestinations,
  resolveLimits,
  type ChallengeHook,
  type ChallengeInput,
  type CountryListOptions,
  type DestinationOptions,
  type FailureBudget,
  type LimitOptions,
  type PrefixLimit,
  type ResolvedDestinations,
  type ResolvedLimits,
  type VerifyLock,
  type WindowLimit,
} from './config.js';
export { destinationRefusal, type DestinationRefusal, type DestinationRefusalReason } from './destination.js';
export { createCounterSet, type CounterSet, type CounterName } from './counters.js';
export { createSendAdmission, type Admission, type SendAdmission, type SendCheck } from './send-admission.js';
export { createVerifyBudget, type VerifyBudget } from './verify-budget.js';
export { ipBucket, prefixBucket } from './keys.js';
export { lockSecondsFor, retryAfterSeconds } from './policy.js';
