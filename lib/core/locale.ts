/**
 * Localized message texts (`messageTemplates`, `defaultLocale`) and the locale of a send. Pure.
 * A locale is a BCP 47 tag of the common shape: language (2-3 letters), optional script
 * (4 letters), optional region (2 letters or 3 digits): `de`, `pt-BR`, `zh-Hant-TW`. The template
 * is chosen by walking each wanted locale's fallback chain (`de-AT` → `de`), then the default.
 */
import Joi from 'joi';

export const LOCALE_PATTERN = /^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|[0-9]{3}))?$/;
export const LOCALE_RULE = '"locale" must be a language tag such as "de", "de-AT" or "pt-BR"';
/** Longest tag the pattern allows ("zh-Hant-TW" is 10): the stored column holds 35. */
export const LOCALE_MAX = 12;

/** Canonical case (`pt-br` → `pt-BR`, `zh-hant-tw` → `zh-Hant-TW`), or undefined when malformed. */
export function normalizeLocale(tag: unknown): string | undefined {
  if (typeof tag !== 'string' || tag.length > LOCALE_MAX || !LOCALE_PATTERN.test(tag)) return undefined;
  return tag
    .split('-')
    .map((part, i) => (i === 0 ? part.toLowerCase() : part.length === 4 ? `${part.slice(0, 1).toUpperCase()}${part.slice(1).toLowerCase()}` : part.toUpperCase()))
    .join('-');
}

/** `zh-Hant-TW` → `['zh-Hant-TW', 'zh-Hant', 'zh']`: the tag, then each shorter prefix. */
export function localeChain(tag: string): string[] {
  const parts = tag.split('-');
  return parts.map((_p, i) => parts.slice(0, parts.length - i).join('-'));
}

/**
 * The well-formed tags of an `Accept-Language` header, best first (q=0 and `*` dropped, malformed
 * entries skipped: a header is the browser's, not a field the caller typed). At most 10 entries.
 */
export function parseAcceptLanguage(header: string | undefined): string[] {
  if (header === undefined || header.length > 1000) return [];
  const entries: { tag: string; q: number; at: number }[] = [];
  header.split(',').slice(0, 20).forEach((raw, at) => {
    const [range, ...params] = raw.trim().split(';');
    const tag = normalizeLocale(range?.trim());
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (tag !== undefined && Number.isFinite(q) && q > 0 && q <= 1) entries.push({ tag, q, at });
  });
  return entries.sort((a, b) => b.q - a.q || a.at - b.at).slice(0, 10).map((e) => e.tag);
}

export interface ResolvedTemplates {
  /** Normalized tag → template. */
  readonly byLocale: ReadonlyMap<string, string>;
  readonly defaultLocale: string;
  readonly defaultTemplate: string;
}

export interface ChosenText {
  /** The template stored with the request (its retries render the same text). */
  readonly template: string;
  /** The locale handed to providers that take one: the matched template's, else the first wanted. */
  readonly locale: string | undefined;
}

/** The template for the wanted locales (best first): each one's chain in turn, then the default. */
export function chooseTemplate(templates: ResolvedTemplates, wanted: readonly string[]): ChosenText {
  for (const tag of wanted) {
    for (const candidate of localeChain(tag)) {
      const template = templates.byLocale.get(candidate);
      if (template !== undefined) return { template, locale: candidate };
    }
  }
  return { template: templates.defaultTemplate, locale: wanted[0] };
}

/** As `messageTemplate`: at most 300 characters, with `_CODE_` where the code goes. */
const template = Joi.string().max(300).pattern(/_CODE_/);
export const messageTemplatesSchema = Joi.object().pattern(Joi.string().pattern(LOCALE_PATTERN).max(LOCALE_MAX), template).min(1);
export const defaultLocaleSchema = Joi.string().pattern(LOCALE_PATTERN).max(LOCALE_MAX);

export function resolveTemplates(templates: Readonly<Record<string, string>> | undefined, defaultLocale: string | undefined, fallback: string): ResolvedTemplates {
  const byLocale = new Map<string, string>();
  for (const [tag, text] of Object.entries(templates ?? {})) {
    const normalized = normalizeLocale(tag);
    if (normalized !== undefined) byLocale.set(normalized, text);
  }
  const locale = normalizeLocale(defaultLocale) ?? 'en';
  return { byLocale, defaultLocale: locale, defaultTemplate: byLocale.get(locale) ?? fallback };
}
