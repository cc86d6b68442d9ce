/**
 * The zero-setup provider for local development: prints `OTP <code> for <masked phone>` instead of
 * delivering anything. It refuses to be built when NODE_ENV=production.
 */
import { configError } from '../errors.js';
import { maskPhone } from '../core/phone.js';
import type { OtpProvider } from '../types.js';
import type { ProviderContext } from './context.js';

export interface ConsoleProviderOptions {
  /** Where the line goes. @default process.stdout */
  readonly write?: (line: string) => void;
}

export function consoleProvider(options: ConsoleProviderOptions = {}, ctx?: Pick<ProviderContext, 'env'>): OtpProvider {
  const env = ctx?.env ?? process.env;
  if (env.NODE_ENV === 'production') {
    throw configError('the Console provider prints codes instead of sending them and is refused when NODE_ENV=production; route to Twilio, Sinch or Mada (OTP_SMS_PROVIDER)');
  }
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  return {
    name: 'Console',
    channels: ['sms', 'call', 'whatsapp'],
    ownsCode: false,
    send(input) {
      write(`OTP ${input.code} for ${maskPhone(input.phone)}${input.channel === 'sms' ? '' : ` (${input.channel})`}`);
      return Promise.resolve({ ref: `console-${input.requestId}` });
    },
  };
}
