/**
 * A worker process for the multi-process and crash tests: `node --import tsx test/helpers/worker-process.ts`.
 * It builds the kit on DATABASE_URL with one provider, "Recorder", that delivers to the loopback
 * DeliveryRecorder at RECORDER_URL, starts the retry poller, optionally starts some sends on the
 * request path (WORKER_SENDS), prints `{"ready": "<instance id>"}` and works until SIGTERM, when it
 * stops the poller (finishing in-flight sends), closes the database and prints `{"stopped": true}`.
 *
 * Environment: DATABASE_URL, OTP_SECRET, RECORDER_URL, WORKER_NAME, and JSON in WORKER_SMS (the
 * `sms` options), WORKER_POLLER (poller options), WORKER_SENDS (phone numbers), plus
 * WORKER_PROVIDER_TIMEOUT_MS. With WEBHOOK_URL and WEBHOOK_SECRET the kit sends webhooks (JSON in
 * WEBHOOK_OPTIONS merged in) and, unless WEBHOOK_POLLER=0, runs the webhook poller too (JSON
 * options in WEBHOOK_POLLER_OPTIONS).
 */
import { createOtp, ProviderError, type Logger, type OtpProvider, type RetryPollerOptions, type SmsRetryOptions, type WebhookOptions, type WebhookPollerOptions } from '../../lib/index.js';
import { internalsOf } from '../../lib/service/internals.js';
import type { RecorderPayload } from './delivery-recorder.js';

const env = process.env;
const required = (name: string): string => {
  const value = env[name];
  if (value === undefined || value === '') throw new Error(`worker-process: ${name} is required`);
  return value;
};
const worker = required('WORKER_NAME');
const recorderUrl = required('RECORDER_URL');

const recorder: OtpProvider = {
  name: 'Recorder',
  channels: ['sms', 'call'],
  ownsCode: false,
  async send(input) {
    const payload: RecorderPayload = { requestId: input.requestId, worker, phone: input.phone, code: input.code, text: input.text };
    const res = await fetch(recorderUrl, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(payload), signal: input.signal });
    const body = (await res.json()) as { ref?: string };
    if (res.status === 200) return { ref: body.ref ?? 'none' };
    throw new ProviderError({ provider: 'Recorder', kind: 'rejected', retryable: res.status >= 500, httpStatus: res.status, message: `the recorder answered ${res.status}` });
  },
};

// Errors only: a third of the calls fail on purpose, and those warnings would drown the output.
const logger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error: (obj, msg) => process.stderr.write(`${JSON.stringify({ worker, level: 'error', obj, msg })}\n`),
};

const otp = createOtp({
  db: required('DATABASE_URL'),
  secret: required('OTP_SECRET'),
  providers: ['Recorder'],
  customProviders: [recorder],
  sms: JSON.parse(env.WORKER_SMS ?? '{"retry":true}') as SmsRetryOptions,
  providerTimeoutMs: Number(env.WORKER_PROVIDER_TIMEOUT_MS ?? 10_000),
  logger,
  env: {},
  ...(env.WORKER_LIMITS === undefined ? {} : { limits: JSON.parse(env.WORKER_LIMITS) as false }),
  ...(env.WEBHOOK_URL === undefined ? {} : { webhooks: { url: env.WEBHOOK_URL, secret: required('WEBHOOK_SECRET'), ...(JSON.parse(env.WEBHOOK_OPTIONS ?? '{}') as Partial<WebhookOptions>) } }),
});
await otp.migrate();
const poller = otp.startRetryPoller(JSON.parse(env.WORKER_POLLER ?? '{}') as RetryPollerOptions);
const webhookPoller = env.WEBHOOK_URL !== undefined && env.WEBHOOK_POLLER !== '0' ? otp.startWebhookPoller(JSON.parse(env.WEBHOOK_POLLER_OPTIONS ?? '{}') as WebhookPollerOptions) : undefined;
for (const phone of JSON.parse(env.WORKER_SENDS ?? '[]') as string[]) {
  // Not awaited: the test kills this process while these are in flight.
  otp.sendSms(phone).catch((error: unknown) => logger.error({ phone, err: String(error) }, 'send failed'));
}
// The poller's timers are unref'd (it never keeps an app alive by itself); this process has no
// server, so it keeps itself alive until it is told to stop.
const keepAlive = setInterval(() => undefined, 60_000);
process.stdout.write(`${JSON.stringify({ ready: internalsOf(otp).instanceId })}\n`);

process.once('SIGTERM', () => {
  void (async () => {
    await poller.stop();
    await webhookPoller?.stop();
    await otp.close();
    clearInterval(keepAlive);
    process.stdout.write(`${JSON.stringify({ stopped: true })}\n`);
    process.exit(0);
  })();
});
