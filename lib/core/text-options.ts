/**
 * The options of channels and texts beyond the seed (`messageTemplates`, `defaultLocale`,
 * `webOtp`, `channelFallback`): their public type, joi keys for the options schema and their
 * resolution. Pure; lib/options.ts spreads them into `createOtp`'s options.
 */
import { channelFallbackSchema, type ChannelFallback } from './channels.js';
import { defaultLocaleSchema, messageTemplatesSchema, resolveTemplates, type ResolvedTemplates } from './locale.js';
import { resolveWebOtp, webOtpSchema, type ResolvedWebOtp, type WebOtpOptions } from './webotp.js';

export interface TextOptions {
  /**
   * Localized texts of kit-owned codes, by BCP 47 tag (`{ en: '…', de: '…', 'pt-BR': '…' }`), each
   * with `_CODE_` (and optionally `_APP_`). Chosen from the send's `locale`, else `Accept-Language`,
   * walking `de-AT` → `de` → `defaultLocale`'s text (else `messageTemplate`). @default none
   */
  readonly messageTemplates?: Readonly<Record<string, string>>;
  /** The locale whose text is used when no wanted locale has one. @default 'en' */
  readonly defaultLocale?: string;
  /** One-tap code entry: the WebOTP line `@host #code` for `origin`, and/or an Android SMS Retriever `appHash`. @default none */
  readonly webOtp?: WebOtpOptions;
  /**
   * When every provider of the asked channel fails for a number, deliver on these channels next
   * (possibly through another vendor), e.g. `{ sms: ['call'], whatsapp: ['sms'] }`. @default none
   */
  readonly channelFallback?: ChannelFallback;
}

export interface ResolvedTextOptions {
  readonly templates: ResolvedTemplates;
  readonly webOtp: ResolvedWebOtp | undefined;
  readonly channelFallback: ChannelFallback;
}

export const textOptionKeys = {
  messageTemplates: messageTemplatesSchema,
  defaultLocale: defaultLocaleSchema,
  webOtp: webOtpSchema,
  channelFallback: channelFallbackSchema,
};

export function resolveTextOptions(options: TextOptions, messageTemplate: string): ResolvedTextOptions {
  return {
    templates: resolveTemplates(options.messageTemplates, options.defaultLocale, messageTemplate),
    webOtp: resolveWebOtp(options.webOtp),
    channelFallback: options.channelFallback ?? {},
  };
}
