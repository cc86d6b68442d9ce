/** Mada SOAP SubmitSM gateway (placeholder: implemented in issue 3). */
import Joi from 'joi';
import type { OtpProvider } from '../types.js';
import type { ProviderContext } from './context.js';

export interface MadaOptions {
  /** Gateway URL; without a scheme `http://` is assumed (hitrix configs) and a warning is logged. */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** Alphanumeric sender name (source TON 5). */
  readonly sourceName: string;
}

export const madaOptionsSchema = Joi.object<MadaOptions>({
  url: Joi.string().min(1).required(),
  username: Joi.string().min(1).required(),
  password: Joi.string().min(1).required(),
  sourceName: Joi.string().min(1).max(11).required(),
});

export function madaOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): Partial<MadaOptions> {
  return {
    ...(env.MADA_URL ? { url: env.MADA_URL } : {}),
    ...(env.MADA_USERNAME ? { username: env.MADA_USERNAME } : {}),
    ...(env.MADA_PASSWORD ? { password: env.MADA_PASSWORD } : {}),
    ...(env.MADA_SOURCE_NAME ? { sourceName: env.MADA_SOURCE_NAME } : {}),
  };
}

export function madaProvider(_options: MadaOptions, _ctx: ProviderContext): OtpProvider {
  throw new Error('Mada provider: not implemented yet');
}
