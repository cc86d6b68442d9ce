/** Twilio Verify v2 (placeholder: implemented in issue 3). */
import Joi from 'joi';
import type { OtpProvider } from '../types.js';
import type { ProviderContext } from './context.js';

export interface TwilioOptions {
  readonly accountSid: string;
  readonly authToken: string;
  readonly verifyServiceSid: string;
  /** Replaces the API origin (proxies, tests), e.g. `http://127.0.0.1:4010`. */
  readonly baseUrl?: string;
}

export const twilioOptionsSchema = Joi.object<TwilioOptions>({
  accountSid: Joi.string().pattern(/^AC[0-9a-fA-F]{32}$/).required(),
  authToken: Joi.string().min(8).required(),
  verifyServiceSid: Joi.string().pattern(/^VA[0-9a-fA-F]{32}$/).required(),
  baseUrl: Joi.string().uri({ scheme: ['http', 'https'] }),
});

export function twilioOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): Partial<TwilioOptions> {
  return {
    ...(env.TWILIO_ACCOUNT_SID ? { accountSid: env.TWILIO_ACCOUNT_SID } : {}),
    ...(env.TWILIO_AUTH_TOKEN ? { authToken: env.TWILIO_AUTH_TOKEN } : {}),
    ...(env.TWILIO_VERIFY_SERVICE_SID ? { verifyServiceSid: env.TWILIO_VERIFY_SERVICE_SID } : {}),
    ...(env.TWILIO_BASE_URL ? { baseUrl: env.TWILIO_BASE_URL } : {}),
  };
}

export function twilioProvider(_options: TwilioOptions, _ctx: ProviderContext): OtpProvider {
  throw new Error('Twilio provider: not implemented yet');
}
