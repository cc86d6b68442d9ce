/** Sinch Verification (placeholder: implemented in issue 3). */
import Joi from 'joi';
import type { OtpProvider } from '../types.js';
import type { ProviderContext } from './context.js';

export interface SinchOptions {
  readonly applicationKey: string;
  /** Base64, as the Sinch dashboard shows it. */
  readonly applicationSecret: string;
  /** Replaces the Verification API origin (proxies, tests), e.g. `http://127.0.0.1:4020`. */
  readonly baseUrl?: string;
}

export const sinchOptionsSchema = Joi.object<SinchOptions>({
  applicationKey: Joi.string().min(1).required(),
  applicationSecret: Joi.string().base64().required(),
  baseUrl: Joi.string().uri({ scheme: ['http', 'https'] }),
});

export function sinchOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): Partial<SinchOptions> {
  return {
    ...(env.SINCH_APPLICATION_KEY ? { applicationKey: env.SINCH_APPLICATION_KEY } : {}),
    ...(env.SINCH_APPLICATION_SECRET ? { applicationSecret: env.SINCH_APPLICATION_SECRET } : {}),
    ...(env.SINCH_BASE_URL ? { baseUrl: env.SINCH_BASE_URL } : {}),
  };
}

export function sinchProvider(_options: SinchOptions, _ctx: ProviderContext): OtpProvider {
  throw new Error('Sinch provider: not implemented yet');
}
