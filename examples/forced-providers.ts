/**
 * Forced providers: the routing is fixed in code, like the seed's `ServiceProviderOTP('Twilio',
 * 'Sinch')`, instead of being read from the `otp_sms_provider` settings row. Forced routing wins
 * over OTP_SMS_PROVIDER and over the row (`otp.setRouting()` still writes the row, but it is not
 * used while routing is forced), and its providers are built at startup, so missing credentials
 * fail before the app serves anything.
 *
 *   # Twilio first, Sinch when Twilio fails (the seed's forced providers)
 *   TWILIO_ACCOUNT_SID=AC... TWILIO_AUTH_TOKEN=... TWILIO_VERIFY_SERVICE_SID=VA... \
 *   SINCH_APPLICATION_KEY=... SINCH_APPLICATION_SECRET=... OTP_SECRET=... \
 *   npx tsx examples/forced-providers.ts
 *
 *   # Any routing string works too: Bulgarian mobile prefixes go to Mada first, everyone else to Twilio then Sinch
 *   npx tsx examples/forced-providers.ts 'Twilio;Mada:+35987,+35988;Sinch'
 *
 * It serves the basic example app (examples/app.ts) with that routing on PORT (default 3000).
 */
import { pathToFileURL } from 'node:url';
import { chainFor, createOtp, isOtpError, type Otp, type OtpOptions } from '../lib/index.js';
import { createExampleApp } from './app.js';

/** The seed's forced providers, in failover order. */
export const SEED_PROVIDERS = ['Twilio', 'Sinch'] as const;

/**
 * A kit whose routing is forced: a list of names (`['Twilio', 'Sinch']`) or a routing string
 * (`'Twilio;Mada:+35987,+35988;Sinch'`). Everything else comes from `options` and the environment.
 */
export function createForcedOtp(providers: string | readonly string[] = SEED_PROVIDERS, options: Omit<OtpOptions, 'providers'> = {}): Otp {
  return createOtp({ ...options, providers });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let otp: Otp;
  try {
    otp = createForcedOtp(process.argv[2] ?? SEED_PROVIDERS);
  } catch (error) {
    // E.g. "TWILIO_AUTH_TOKEN is not set": the kit names the missing setting.
    console.error(isOtpError(error) ? error.message : error);
    process.exit(1);
  }
  await otp.migrate();
  await otp.ready();

  // The parsed routing and the failover chain a few numbers would get.
  const routing = await otp.routing();
  console.log(`routing: ${routing.source}`);
  for (const phone of ['+359871234567', '+359881234567', '+14155550100']) console.log(`  ${phone.slice(0, 6)}… → ${chainFor(routing, phone).join(' → ')}`);

  // Failed sends wait in the request table when OTP_SMS_RETRY=true; the poller retries them.
  const poller = otp.startRetryPoller();
  const port = Number(process.env.PORT ?? 3000);
  const server = createExampleApp(otp).listen(port, () => {
    console.log(`forced-providers example on http://localhost:${port}`);
  });
  const shutdown = (): void => {
    server.close();
    void poller.stop().then(() => otp.close()).then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
