/**
 * The locales providers that write their own text accept, and the narrowing of a send's locale to
 * them (`de-AT` → `de`). A locale none of them knows is left out, so the provider picks its own
 * default (Twilio: by the number's country) instead of refusing the send.
 */
import { localeChain } from '../core/locale.js';

/** Twilio Verify's `Locale` values (twilio.com/docs/verify/supported-languages). */
export const TWILIO_LOCALES: ReadonlySet<string> = new Set([
  'af', 'ar', 'ca', 'cs', 'da', 'de', 'el', 'en', 'en-GB', 'es', 'et', 'fi', 'fr', 'he', 'hi', 'hr', 'hu', 'id', 'it', 'ja', 'ko', 'lt', 'ms',
  'nb', 'nl', 'pl', 'pt', 'pt-BR', 'ro', 'ru', 'sv', 'th', 'tl', 'tr', 'uk', 'vi', 'zh', 'zh-CN', 'zh-HK',
]);

/** The first tag of the locale's chain that `supported` has, or undefined. */
export function narrowLocale(locale: string | undefined, supported: ReadonlySet<string>): string | undefined {
  if (locale === undefined) return undefined;
  return localeChain(locale).find((tag) => supported.has(tag));
}

/**
 * Sinch takes a `language-region` identifier (SMS: the `Accept-Language` header the SDK sets from
 * `smsOptions.locale`; calls: `speech.locale`) and documents only "a subset" without listing it:
 * the tag goes as given, when it has a region.
 */
export function sinchLocale(locale: string | undefined): string | undefined {
  return locale !== undefined && /-[A-Z]{2}$/.test(locale) ? locale : undefined;
}
