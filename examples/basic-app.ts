/**
 * `npm start`: the example app on PORT (default 3000), configured only by environment variables
 * (DATABASE_URL, OTP_SECRET, TRUST_PROXY, OTP_SMS_PROVIDER, OTP_SMS_RETRY, OTP_WORKFLOW, OTP_WEBHOOK_URL and
 * OTP_WEBHOOK_SECRET, provider credentials; OTP_ADMIN_TOKEN mounts the operator dashboard at
 * /admin/otp/ behind that bearer token).
 * With none set it runs on SQLite (./otp.sqlite) with the Console provider, which prints codes.
 */
import { createOtp } from '../lib/index.js';
import { createExampleApp } from './app.js';

const otp = createOtp();
await otp.migrate();
await otp.ready();

// The retry poller: with OTP_SMS_RETRY on, failed sends wait in the request table and it retries
// them; it sends the later steps of an escalation workflow (OTP_WORKFLOW=sms:60,call); it also takes over sends a crash interrupted, ends requests (the `otp.verified`,
// `otp.expired`, `otp.max_attempts_reached` and `otp.canceled` events, the insight figures) and purges.
const poller = otp.startRetryPoller();
// With OTP_WEBHOOK_URL and OTP_WEBHOOK_SECRET set, this poller delivers the signed webhooks.
const webhookPoller = process.env.OTP_WEBHOOK_URL && process.env.OTP_WEBHOOK_SECRET ? otp.startWebhookPoller() : undefined;

const app = createExampleApp(otp);
const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, () => {
  const routing = process.env.OTP_SMS_PROVIDER ?? 'the otp_sms_provider setting (default Console)';
  console.log(`OTP example listening on http://localhost:${port} (routing: ${routing})`);
  if (process.env.OTP_ADMIN_TOKEN) console.log(`operator dashboard: http://localhost:${port}/admin/otp/ (asks for OTP_ADMIN_TOKEN)`);
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: shutting down`);
  server.close();
  // Finish the deliveries in flight and hand unstarted claims back before the connection closes.
  await poller.stop();
  await webhookPoller?.stop();
  await otp.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
