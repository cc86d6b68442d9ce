/**
 * Destination policy: may a code go to this number on this channel? Pure; the number is classified
 * with libphonenumber-js full metadata (country and number type).
 */
import type { CountryCode, PhoneNumberType } from 'libphonenumber-js/max';
import type { Channel } from '../types.js';
import type { ResolvedDestinations } from './config.js';

export type DestinationRefusalReason = 'country-not-allowed' | 'country-denied' | 'non-geographic' | 'number-type';

export interface DestinationRefusal {
  readonly reason: DestinationRefusalReason;
  readonly country: CountryCode | undefined;
  readonly type: PhoneNumberType | undefined;
}

export interface ClassifiedNumber {
  readonly country: CountryCode | undefined;
  readonly type: PhoneNumberType | undefined;
}

/**
 * Undefined when the number may get a code. `FIXED_LINE_OR_MOBILE` (the US, Canada and others
 * cannot tell the two apart) and an unknown type are let through: only types known to be wrong
 * are refused.
 */
export function destinationRefusal(number: ClassifiedNumber, channel: Channel, policy: ResolvedDestinations): DestinationRefusal | undefined {
  const { country, type } = number;
  const refuse = (reason: DestinationRefusalReason): DestinationRefusal => ({ reason, country, type });
  if (type !== undefined && policy.blockedTypes.has(type)) return refuse('number-type');
  if (country === undefined) return policy.allowNonGeographic ? undefined : refuse('non-geographic');
  const lists = policy.channels[channel];
  if (lists.deny.has(country)) return refuse('country-denied');
  if (lists.allow !== undefined && !lists.allow.has(country)) return refuse('country-not-allowed');
  return undefined;
}
