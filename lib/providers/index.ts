/**
 * The provider registry: built-in providers by name (built lazily, only when the routing names
 * them, from options merged over environment variables) plus the app's own providers.
 */
import type Joi from 'joi';
import { isChannel } from '../core/channels.js';
import { configError } from '../errors.js';
import type { OtpProvider } from '../types.js';
import { codeFormatProblem } from './code-format.js';
import { consoleProvider, type ConsoleProviderOptions } from './console.js';
import type { ProviderContext } from './context.js';
import { madaOptionsFromEnv, madaOptionsSchema, madaProvider, type MadaOptions } from './mada.js';
import { sinchOptionsFromEnv, sinchOptionsSchema, sinchProvider, type SinchOptions } from './sinch.js';
import { twilioOptionsFromEnv, twilioOptionsSchema, twilioProvider, type TwilioOptions } from './twilio.js';

/** Credentials and settings of the built-in providers; each field falls back to its environment variable. */
export interface ProviderSettings {
  readonly twilio?: Partial<TwilioOptions>;
  readonly sinch?: Partial<SinchOptions>;
  readonly mada?: Partial<MadaOptions>;
  readonly console?: ConsoleProviderOptions;
}

interface Builtin<T> {
  readonly key: keyof ProviderSettings;
  readonly schema: Joi.ObjectSchema<T>;
  readonly fromEnv: (env: ProviderContext['env']) => Partial<T>;
  readonly build: (options: T, ctx: ProviderContext) => OtpProvider;
  /** option field → environment variable, for error messages. */
  readonly envNames: Readonly<Record<string, string>>;
}

const BUILTINS = {
  Twilio: {
    key: 'twilio',
    schema: twilioOptionsSchema,
    fromEnv: twilioOptionsFromEnv,
    build: twilioProvider,
    envNames: { accountSid: 'TWILIO_ACCOUNT_SID', authToken: 'TWILIO_AUTH_TOKEN', verifyServiceSid: 'TWILIO_VERIFY_SERVICE_SID', baseUrl: 'TWILIO_BASE_URL' },
  } satisfies Builtin<TwilioOptions>,
  Sinch: {
    key: 'sinch',
    schema: sinchOptionsSchema,
    fromEnv: sinchOptionsFromEnv,
    build: sinchProvider,
    envNames: { applicationKey: 'SINCH_APPLICATION_KEY', applicationSecret: 'SINCH_APPLICATION_SECRET', baseUrl: 'SINCH_BASE_URL' },
  } satisfies Builtin<SinchOptions>,
  Mada: {
    key: 'mada',
    schema: madaOptionsSchema,
    fromEnv: madaOptionsFromEnv,
    build: madaProvider,
    envNames: { url: 'MADA_URL', username: 'MADA_USERNAME', password: 'MADA_PASSWORD', sourceName: 'MADA_SOURCE_NAME' },
  } satisfies Builtin<MadaOptions>,
} as const;

export const BUILTIN_PROVIDER_NAMES = ['Twilio', 'Sinch', 'Mada', 'Console'] as const;

function buildBuiltin<T>(name: string, spec: Builtin<T>, settings: ProviderSettings, ctx: ProviderContext): OtpProvider {
  const merged = { ...spec.fromEnv(ctx.env), ...(settings[spec.key] as Partial<T> | undefined) };
  const result = spec.schema.validate(merged, { abortEarly: true, convert: false });
  const error: Joi.ValidationError | undefined = result.error;
  const value = result.value as T;
  if (error !== undefined) {
    const field = String(error.details[0]?.path[0] ?? '');
    const envName = spec.envNames[field];
    const where = envName === undefined ? `option ${spec.key}.${field}` : `option ${spec.key}.${field} or ${envName}`;
    throw configError(`provider ${name} is routed but its settings are not usable: ${error.message} (set ${where})`);
  }
  return spec.build(value, ctx);
}

/** Checks that an app-supplied provider implements OtpProvider, naming what is missing. */
export function assertProvider(value: unknown, where: string): asserts value is OtpProvider {
  const p = value as Partial<OtpProvider> | null;
  const problems: string[] = [];
  if (typeof p !== 'object' || p === null) throw new TypeError(`${where} must be an OtpProvider object { name, channels, ownsCode, send(), check()? }`);
  if (typeof p.name !== 'string' || !/^[A-Za-z][A-Za-z0-9_-]{0,31}$/.test(p.name)) problems.push('name (a word of letters, digits, _ or -)');
  if (!Array.isArray(p.channels) || p.channels.length === 0 || !p.channels.every((c) => isChannel(c))) problems.push("channels (a non-empty array of 'sms' | 'call' | 'whatsapp')");
  if (typeof p.ownsCode !== 'boolean') problems.push('ownsCode (boolean)');
  if (typeof p.send !== 'function') problems.push('send()');
  if (p.ownsCode === true && typeof p.check !== 'function') problems.push('check() (required when ownsCode is true)');
  const formatProblem = p.codeFormat === undefined ? undefined : codeFormatProblem(p.codeFormat);
  if (formatProblem !== undefined) problems.push(formatProblem);
  if (problems.length > 0) throw new TypeError(`${where} does not implement OtpProvider: missing or wrong ${problems.join(', ')}`);
}

export interface ProviderRegistry {
  /** Every name the routing string may use. */
  readonly names: readonly string[];
  /** The provider for a routed name, built on first use; throws CONFIG_INVALID when its settings are missing. */
  get(name: string): OtpProvider;
}

export function createProviderRegistry(settings: ProviderSettings, custom: readonly OtpProvider[], ctx: ProviderContext): ProviderRegistry {
  const built = new Map<string, OtpProvider>();
  custom.forEach((provider, index) => {
    assertProvider(provider, `customProviders[${index}]`);
    const clash = [...BUILTIN_PROVIDER_NAMES, ...built.keys()].find((n) => n.toLowerCase() === provider.name.toLowerCase());
    if (clash !== undefined && built.has(clash)) throw configError(`customProviders: two providers are named "${provider.name}"`);
    built.set(clash ?? provider.name, provider); // a custom provider may replace a built-in of the same name
  });
  const names = [...new Set([...BUILTIN_PROVIDER_NAMES, ...built.keys()])];
  return {
    names,
    get(name) {
      const existing = built.get(name);
      if (existing !== undefined) return existing;
      let provider: OtpProvider;
      if (name === 'Console') provider = consoleProvider(settings.console, ctx);
      else if (name === 'Twilio') provider = buildBuiltin(name, BUILTINS.Twilio, settings, ctx);
      else if (name === 'Sinch') provider = buildBuiltin(name, BUILTINS.Sinch, settings, ctx);
      else if (name === 'Mada') provider = buildBuiltin(name, BUILTINS.Mada, settings, ctx);
      else throw configError(`unknown provider "${name}"`);
      built.set(name, provider);
      return provider;
    },
  };
}
