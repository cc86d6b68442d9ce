/**
 * `createOtp(options)`: wiring only. It resolves the options, opens the database, builds the
 * parts (request store, limits, providers, routing, delivery) into one dependency object
 * (lib/service/deps.ts) and exposes the public methods over the named service functions:
 * send (lib/service/send.ts), verify (lib/service/verify.ts) and token checks
 * (lib/service/token-check.ts). Refusals come back from those as data; the methods here throw
 * them as OtpError for library callers, and the router renders them itself.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Knex } from 'knex';
import { deriveKey } from '../core/code.js';
import { parseRouting, routedNames, type Routing } from '../core/routing.js';
import type { TestNumberInput } from '../core/test-numbers.js';
import { tokenKeyring } from '../core/token.js';
import { configError, refusalError } from '../errors.js';
import { OtpEvents } from '../events.js';
import { createCounterSet } from '../limits/counters.js';
import { createSendAdmission } from '../limits/send-admission.js';
import { createVerifyBudget } from '../limits/verify-budget.js';
import { publicConfig, resolveOptions, type OtpConfig, type OtpOptions } from '../options.js';
import { createProviderRegistry, type ProviderRegistry } from '../providers/index.js';
import { assertProviderSdk } from '../providers/lazy.js';
import { knexFromUrl } from '../storage/db.js';
import { firstMissingTable, migrateOtpTables } from '../storage/migrations.js';
import { createRequestStore } from '../storage/request-store.js';
import type { Channel, OtpProvider, PhoneInput, SendOptions, SendResult, VerifiedOtp, VerifyOptions, VerifyResult } from '../types.js';
import { startRetryPoller, type RetryPoller, type RetryPollerOptions } from '../worker/retry-poller.js';
import { startWebhookPoller, type WebhookPoller, type WebhookPollerOptions } from '../worker/webhook-poller.js';
import { assertSecretFits, providerSecrets, type OtpDeps, type Outcome } from './deps.js';
import { attachInternals } from './internals.js';
import { forget, purge, type ForgetResult, type PurgeOptions, type PurgeResult } from './lifecycle.js';
import { createRoutingSource } from './routing-source.js';
import { resendOtp, type ResendOptions } from './resend.js';
import { sendOtp } from './send.js';
import { createTestNumberSource } from './test-numbers.js';
import { buildFraudGuard, fraudGuardMethods, type FraudGuardMethods } from './fraud-guard.js';
import { checkToken, type TokenCheckOptions } from './token-check.js';
import { verifyOtp } from './verify.js';
import { workflowStepDeps } from './workflow.js';
import { insights, type InsightsQuery } from './insights.js';
import { createRefusalTally } from './refusal-tally.js';
import { loggableError } from '../core/safe-error.js';
import { cancel, sweepEnds, type CancelResult } from './request-ends.js';
import type { InsightsResult } from '../core/insights.js';

export interface Otp extends FraudGuardMethods {
  /** The settings in force (no secrets, credentials or database URL). */
  readonly config: OtpConfig;
  readonly events: OtpEvents;
  /** The database the kit uses (yours, when you passed a Knex instance). */
  readonly knex: Knex;
  /** Creates or updates the kit's tables. */
  migrate(): Promise<void>;
  /** Checks the tables exist and the routing is valid; call before serving traffic. */
  ready(): Promise<void>;
  sendSms(phone: PhoneInput, options?: SendOptions): Promise<SendResult>;
  call(phone: PhoneInput, options?: SendOptions): Promise<SendResult>;
  /** A code by WhatsApp (Twilio Verify, Sinch); 422 CHANNEL_UNSUPPORTED when no routed provider has it. */
  sendWhatsapp(phone: PhoneInput, options?: SendOptions): Promise<SendResult>;
  /** "Call me instead": resend the live request's code on `channel` (lib/service/resend.ts); it supersedes the live request. 422 `OTP_NOT_FOUND` without one, unless `hideMissing`. */
  resend(phone: PhoneInput, channel: Channel, options?: ResendOptions): Promise<SendResult>;
  send(phone: PhoneInput, channel: Channel, options?: SendOptions): Promise<SendResult>;
  verify(phone: PhoneInput, code: string, options?: VerifyOptions): Promise<VerifyResult>;
  /** Checks a verification token (used by `requireVerifiedOtp`); throws OtpError 401/403. */
  checkToken(token: string, options?: TokenCheckOptions): Promise<VerifiedOtp>;
  /** Validates and writes the `otp_sms_provider` settings row. */
  setRouting(value: string): Promise<void>;
  /** Validates and writes the `otp_test_numbers` settings row (fixed codes with an expiry, never sent). */
  setTestNumbers(list: readonly TestNumberInput[]): Promise<void>;
  /** The routing in force now (forced, or the settings row). */
  routing(): Promise<Routing>;
  /** Starts the bundled interval poller that works through the retry table (and runs `purge` every `purgeInterval`); `await poller.stop()` on shutdown. */
  startRetryPoller(options?: RetryPollerOptions): RetryPoller;
  /** Starts the bundled poller that delivers the webhook outbox (needs the `webhooks` option); `await poller.stop()` on shutdown. */
  startWebhookPoller(options?: WebhookPollerOptions): WebhookPoller;
  /** Deletes what the `retention` option no longer keeps, in bounded batches; counts per table. Safe from many instances and from a cron job. */
  purge(options?: PurgeOptions): Promise<PurgeResult>;
  /** Erases everything the kit holds about one number (a data-subject request); its pending deliveries are cancelled. */
  forget(phone: PhoneInput): Promise<ForgetResult>;
  /** Conversion, outcomes, latency, refusals and cost from the rollups (lib/service/insights.ts); `groupBy` any of country, channel, provider, purpose, step, day, hour. */
  insights(query: InsightsQuery): Promise<InsightsResult>;
  /** Cancels a live request (by its request id) or a number's live requests now: the code no longer verifies and is never sent again; `otp.canceled` follows. */
  cancel(requestIdOrPhone: string): Promise<CancelResult>;
  /** Closes the database connection if the kit opened it. */
  close(): Promise<void>;
}

/** The result, or the refusal thrown as an OtpError (what library callers of send and verify get). */
function unwrap<T>(outcome: Outcome<T>, verify: boolean): T {
  if (outcome.refusal !== undefined) throw refusalError(outcome.refusal, verify);
  return outcome.result;
}

/**
 * Builds every routed provider, so a missing SDK or missing credentials fail now. A missing optional
 * SDK is reported first (install it, then set its credentials); an app's own provider of the same
 * name needs no SDK.
 */
function buildRouted(registry: ProviderRegistry, custom: readonly OtpProvider[], routing: Routing): void {
  const names = routedNames(routing);
  const overridden = new Set(custom.map((p) => p.name.toLowerCase()));
  for (const name of names) if (!overridden.has(name.toLowerCase())) assertProviderSdk(name);
  for (const name of names) registry.get(name);
}

function buildDeps(options: OtpOptions): OtpDeps {
  const config = resolveOptions(options);
  const { logger, tables, limits } = config;
  const knex = typeof config.db === 'string' ? knexFromUrl(config.db) : config.db;
  const events = new OtpEvents(logger);
  const counters = createCounterSet(knex, { limits, tables, logger, batching: config.groupCommit, monitor: config.fraudGuard.monitor }, events);
  const fraud = buildFraudGuard(config, knex, counters, events);
  const budget = createVerifyBudget(knex, config, counters, events);
  const registry = createProviderRegistry(config.providerSettings, config.customProviders, { logger, timeoutMs: config.providerTimeoutMs, env: config.env, clock: config.clock });
  const buildAll = (r: Routing): void => {
    buildRouted(registry, config.customProviders, r);
    assertSecretFits(config, routedNames(r));
  };
  const routing = createRoutingSource(config, knex, registry.names, buildAll);
  // Forced routing is known now: build its providers so missing credentials fail at startup.
  if (config.forcedRouting !== undefined) buildAll(parseRouting(config.forcedRouting.value, registry.names));
  if (config.usingDevSecret) logger.warn('OTP_SECRET is not set: using a fixed development secret (only while every routed provider is Console; refused when NODE_ENV=production)');
  const store = createRequestStore(knex, tables, { batching: config.groupCommit, locks: budget.lockJoin });
  const cipher = config.secrets.map((s) => deriveKey(s, 'code-cipher'));
  return {
    config,
    knex,
    events,
    registry,
    routing,
    testNumbers: createTestNumberSource(config, knex, config.testNumbers),
    store,
    admission: createSendAdmission(knex, config, counters, events, fraud.holds),
    budget,
    keys: { digest: config.secrets.map((s) => deriveKey(s, 'code-digest')), cipher, token: tokenKeyring(config.secrets) },
    delivery: { config, events, registry, store, cipherKeys: cipher, secrets: providerSecrets(config) },
    instanceId: `${hostname().slice(0, 30)}-${process.pid}-${randomBytes(3).toString('hex')}`,
    fraud,
  };
}

async function ready(deps: OtpDeps): Promise<void> {
  const { tables } = deps.config;
  const missing = await firstMissingTable(deps.knex, [tables.settings, tables.requests, tables.limits, tables.failures, tables.holds, tables.insights, ...(deps.config.webhooks === undefined ? [] : [tables.webhooks])]);
  if (missing !== undefined) {
    throw configError(`table "${missing}" does not exist: run \`await otp.migrate()\` (or the Knex CLI with the kit's migration source) first`);
  }
  // The row as it is now, not as cached a moment ago.
  deps.routing.invalidate();
  const routing = await deps.routing.current();
  buildRouted(deps.registry, deps.config.customProviders, routing);
  assertSecretFits(deps.config, routedNames(routing));
}

export function createOtp(options: OtpOptions = {}): Otp {
  const deps = buildDeps(options);
  const { knex, config } = deps;
  const ownsDb = typeof config.db === 'string';
  const send = async (phone: PhoneInput, channel: Channel, opts?: SendOptions): Promise<SendResult> => unwrap(await sendOtp(deps, phone, channel, opts), false);
  const tally = createRefusalTally(knex, config.tables, deps.events, config.clock, (error) => config.logger.warn({ err: loggableError(error) }, 'otp insights: writing counted refusals failed; they are written later'));
  const endSweep = async (signal: AbortSignal): Promise<void> => {
    await sweepEnds(deps, { signal });
    await tally.flush();
  };
  const otp: Otp = {
    config: publicConfig(config),
    events: deps.events,
    knex,
    migrate: () => migrateOtpTables(knex, config.tables),
    ready: () => ready(deps),
    sendSms: (phone, opts) => send(phone, 'sms', opts),
    call: (phone, opts) => send(phone, 'call', opts),
    sendWhatsapp: (phone, opts) => send(phone, 'whatsapp', opts),
    resend: async (phone, channel, opts) => unwrap(await resendOtp(deps, phone, channel, opts), false),
    send,
    verify: async (phone, code, opts) => unwrap(await verifyOtp(deps, phone, code, opts), true),
    checkToken: (token, opts) => checkToken(deps, token, opts),
    setTestNumbers: (list) => deps.testNumbers.write(list),
    async setRouting(value) {
      await deps.routing.write(value);
    },
    routing: () => deps.routing.current(),
    startRetryPoller: (pollerOptions) =>
      startRetryPoller(
        { delivery: deps.delivery, knex, tables: config.tables, instanceId: deps.instanceId, routing: () => deps.routing.current(), purge: (signal) => purge(deps, { signal }), workflow: workflowStepDeps(deps), endSweep },
        pollerOptions,
      ),
    startWebhookPoller(pollerOptions) {
      const { webhooks } = config;
      if (webhooks === undefined) throw configError('startWebhookPoller: no webhook is configured: set the `webhooks` option (or OTP_WEBHOOK_URL and OTP_WEBHOOK_SECRET)');
      const delivery = { webhooks, knex, tables: config.tables, clock: config.clock };
      return startWebhookPoller({ delivery, instanceId: deps.instanceId, logger: config.logger }, pollerOptions);
    },
    purge: (opts) => purge(deps, opts),
    forget: (phone) => forget(deps, phone),
    ...fraudGuardMethods(deps.fraud),
    insights: (query) => insights(deps, tally, query),
    cancel: (target) => cancel(deps, target),
    async close() {
      await deps.store.drain();
      tally.stop();
      await tally.flush().catch(() => undefined);
      if (ownsDb) await knex.destroy();
    },
  };
  return attachInternals(otp, deps);
}
