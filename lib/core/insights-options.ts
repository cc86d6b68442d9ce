/**
 * The `prices` option of createOtp (what one delivered message costs, for `estimatedCost` in
 * `otp.insights()`): its type, joi schema, resolution and the lookup. Pure.
 *
 * ```ts
 * prices: { currency: 'EUR', default: 0.05, rates: [
 *   { provider: 'Twilio', channel: 'sms', country: 'DE', price: 0.0741 },
 *   { provider: 'Twilio', channel: 'whatsapp', price: 0.005 },
 *   { country: 'US', price: 0.0079 },
 * ] }
 * ```
 * The most specific rate wins (provider, then channel, then country count as more specific in
 * that order); `default` prices everything else.
 */
import Joi from 'joi';

export interface PriceRate {
  /** Provider name as routed (`Twilio`, `Sinch`, `Mada`, yours). @default any */
  readonly provider?: string;
  readonly channel?: 'sms' | 'call' | 'whatsapp';
  /** ISO 3166-1 alpha-2 of the destination. @default any */
  readonly country?: string;
  /** Price of one delivered message, in `currency`. */
  readonly price: number;
}

export interface PriceOptions {
  /** ISO 4217 code shown with the figures. @default 'USD' */
  readonly currency?: string;
  /** Price of a delivered message no rate matches. @default 0 */
  readonly default?: number;
  readonly rates?: readonly PriceRate[];
}

export interface ResolvedPrices {
  readonly currency: string;
  readonly default: number;
  readonly rates: readonly PriceRate[];
}

export const pricesOptionsSchema = Joi.object({
  currency: Joi.string().pattern(/^[A-Z]{3}$/),
  default: Joi.number().min(0).max(1000),
  rates: Joi.array()
    .items(
      Joi.object({
        provider: Joi.string().min(1).max(32),
        channel: Joi.valid('sms', 'call', 'whatsapp'),
        country: Joi.string().pattern(/^[A-Z]{2}$/),
        price: Joi.number().min(0).max(1000).required(),
      }),
    )
    .max(10_000),
});

export function resolvePrices(options: PriceOptions | undefined): ResolvedPrices {
  return { currency: options?.currency ?? 'USD', default: options?.default ?? 0, rates: options?.rates ?? [] };
}

/** 4 = provider, 2 = channel, 1 = country: a rate naming the provider beats any that does not. */
function specificity(rate: PriceRate): number {
  return (rate.provider === undefined ? 0 : 4) + (rate.channel === undefined ? 0 : 2) + (rate.country === undefined ? 0 : 1);
}

/** The rates, most specific first: the first that matches a message prices it (storage turns them into one CASE). */
export const rankedRates = (prices: ResolvedPrices): PriceRate[] => [...prices.rates].sort((a, b) => specificity(b) - specificity(a));

/** The createOtp options this file adds (hooked into lib/options.ts). */
export interface InsightOptions {
  /** What a delivered message costs, for `estimatedCost` in `otp.insights()`. @default 0 in USD */
  readonly prices?: PriceOptions;
}

export interface ResolvedInsightOptions {
  readonly prices: ResolvedPrices;
}

export const insightOptionKeys = { prices: pricesOptionsSchema };

export function resolveInsightOptions(options: InsightOptions): ResolvedInsightOptions {
  return { prices: resolvePrices(options.prices) };
}
