/**
 * `createOtp(options)`: the service behind the router, the guard and the poller. Send commits its
 * request row first (the outbox), then tries the routed providers under a lease; verify checks the
 * code against the sticky provider or the kit's digest and consumes the request atomically.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Knex } from 'knex';
import { codeMatches, deriveKey, digestCode, encryptCode, generateCode } from '../core/code.js';
import { canonicalPhone, maskPhone, type CanonicalPhone } from '../core/phone.js';
import { redact } from '../core/redact.js';
import { refusal } from '../core/policy.js';
import { chainFor, parseRouting, routedNames, type Routing } from '../core/routing.js';
import { signToken, tokenKeyring, verifyToken } from '../core/token.js';
import { OtpError } from '../errors.js';
import { OtpEvents } from '../events.js';
import { createAbuseGuard, type ChallengeSendOptions, type LockState } from '../limits/guard.js';
import { resolveOptions, type OtpOptions, type ResolvedOtpConfig } from '../options.js';
import { createProviderRegistry } from '../providers/index.js';
import { ProviderError } from '../providers/provider-error.js';
import { callProvider } from '../providers/timeout.js';
import { knexFromUrl } from '../storage/db.js';
import { migrateOtpTables } from '../storage/migrations.js';
import { consumeRequest, countAttempt, finishAttempt, insertRequest, requestByRequestId, spendToken, supersedeOlder, type RequestRow } from '../storage/queries.js';
import type { Channel, PhoneInput, SendOptions, SendResult, VerifiedOtp, VerifyFailureCode, VerifyOptions, VerifyResult } from '../types.js';
import type { KitContext } from './context.js';
import { deliver, leaseMsFor, secretsOf } from './delivery.js';
import { createRoutingSource } from './routing-source.js';
import { createRequestBatches } from './request-batches.js';
import { createTestNumberSource, TEST_NUMBER_PROVIDER, type TestNumberInput } from './test-numbers.js';
import { startRetryPoller, type RetryPoller, type RetryPollerOptions } from '../worker/retry-poller.js';

export const DEFAULT_PURPOSE = 'default';
const PURPOSE = /^[a-z0-9][a-z0-9._:-]{0,63}$/i;
/** Accepted clock difference between app instances for token times. */
const TOKEN_SKEW_SECONDS = 5;

export interface TokenCheckOptions {
  /** The purpose the route requires; a token for another purpose is refused (403). */
  readonly purpose?: string;
  /** Refuse a second use of the same token, in any process. @default true */
  readonly singleUse?: boolean;
}

export interface Otp {
  readonly config: ResolvedOtpConfig;
  readonly events: OtpEvents;
  readonly knex: Knex;
  /** Creates or updates the kit's tables. */
  migrate(): Promise<void>;
  /** Checks the tables exist and the routing is valid; call before serving traffic. */
  ready(): Promise<void>;
  sendSms(phone: PhoneInput, options?: SendOptions): Promise<SendResult>;
  call(phone: PhoneInput, options?: SendOptions): Promise<SendResult>;
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
  /** Starts the bundled interval poller that works through the retry table; `await poller.stop()` on shutdown. */
  startRetryPoller(options?: RetryPollerOptions): RetryPoller;
  /** Closes the database connection if the kit opened it. */
  close(): Promise<void>;
  /** Internal parts for the retry poller and tests. */
  readonly context: KitContext;
}

function numberOf(phone: PhoneInput): unknown {
  return typeof phone === 'string' ? phone : (phone as { number?: unknown } | null)?.number;
}

export function createOtp(options: OtpOptions = {}): Otp {
  const config = resolveOptions(options);
  const { logger } = config;
  const ownsDb = typeof config.db === 'string';
  const knex = typeof config.db === 'string' ? knexFromUrl(config.db) : config.db;
  const events = new OtpEvents(logger);
  const guard = createAbuseGuard(knex, config, events);
  const registry = createProviderRegistry(config.providerSettings, config.customProviders, { logger, timeoutMs: config.providerTimeoutMs, env: config.env });
  const buildAll = (r: Routing): void => {
    for (const name of routedNames(r)) registry.get(name);
  };
  const routing = createRoutingSource(config, knex, registry.names, buildAll);
  const testNumbers = createTestNumberSource(config, knex, config.testNumbers);
  // Forced routing is known now: build its providers so missing credentials fail at startup.
  if (config.forcedRouting !== undefined) buildAll(parseRouting(config.forcedRouting.value, registry.names));
  if (config.usingDevSecret) logger.warn('OTP_SECRET is not set: using a fixed development secret (refused when NODE_ENV=production)');

  const ctx: KitContext = {
    config,
    knex,
    registry,
    routing,
    events,
    digestKeys: config.secrets.map((s) => deriveKey(s, 'code-digest')),
    cipherKeys: config.secrets.map((s) => deriveKey(s, 'code-cipher')),
    tokenRing: tokenKeyring(config.secrets),
    batches: createRequestBatches(knex, config.tables, guard.lockJoin()),
    secrets: secretsOf(config),
    instanceId: `${hostname().slice(0, 30)}-${process.pid}-${randomBytes(3).toString('hex')}`,
  };
  const { tables } = config;
  /** What a submitted code must look like before anything is looked up. */
  const codeShape = new RegExp(`^[0-9]{${config.codeLength}}$`);
  // A string only: a number would lose its leading zeros (JS callers).
  const isCodeShaped = (value: unknown): value is string => typeof value === 'string' && codeShape.test(value);

  const parsePhone = (phone: PhoneInput): CanonicalPhone => {
    const raw = numberOf(phone);
    const parsed = typeof raw === 'string' ? canonicalPhone(raw, config.defaultCountry) : undefined;
    if (parsed === undefined) throw new OtpError('VALIDATION_FAILED', '"phone" must be a valid phone number in international format, e.g. +359871234567', { field: 'phone' });
    return parsed;
  };
  const phoneOf = (phone: PhoneInput): string => parsePhone(phone).e164;

  const purposeOf = (purpose: string | undefined): string => {
    if (purpose === undefined) return DEFAULT_PURPOSE;
    if (!PURPOSE.test(purpose)) throw new OtpError('VALIDATION_FAILED', '"purpose" must be 1-64 letters, digits, ".", "_", ":" or "-"', { field: 'purpose' });
    return purpose;
  };

  async function send(phone: PhoneInput, channel: Channel, opts: SendOptions & ChallengeSendOptions = {}): Promise<SendResult> {
    if (channel !== 'sms' && channel !== 'call') throw new OtpError('VALIDATION_FAILED', '"channel" must be "sms" or "call"', { field: 'channel' });
    // Parsed once: the guard classifies the destination from the same result.
    const classified = parsePhone(phone);
    const e164 = classified.e164;
    const purpose = purposeOf(opts.purpose);
    const testNumber = await testNumbers.lookup(e164);
    if (testNumber !== undefined) return sendToTestNumber(e164, channel, purpose, testNumber.code, opts.ip);
    const routed = chainFor(await routing.current(), e164);
    // Providers that cannot serve the channel are skipped; none left is an honest refusal, never a fake success.
    const chain = routed.filter((name) => {
      try {
        return registry.get(name).channels.includes(channel);
      } catch (error) {
        logger.error({ provider: name, err: error instanceof Error ? error.message : String(error) }, 'routed provider cannot be built; skipping it');
        return false;
      }
    });
    if (chain.length === 0) {
      throw new OtpError('CHANNEL_UNSUPPORTED', `No configured provider can deliver a ${channel === 'call' ? 'voice call' : 'text message'} to this number.`, { channel });
    }
    // Limits (429), bot challenge, and refused destinations (answered with a look-alike, nothing stored or sent).
    const admission = await guard.admitSend({ phone: e164, channel, purpose, ip: opts.ip, challengeToken: typeof opts.challengeToken === 'string' ? opts.challengeToken : undefined, classified });
    if (admission.decoy !== undefined) return admission.decoy;

    const now = config.clock();
    const requestId = randomUUID();
    const code = generateCode(config.codeLength, randomInt);
    const firstDigestKey = ctx.digestKeys[0] as Buffer;
    const firstCipherKey = ctx.cipherKeys[0] as Buffer;
    const leaseToken = randomUUID();
    const leaseExpiresAt = now + leaseMsFor(ctx, chain.length);
    const expiresAt = now + config.ttlSeconds * 1000;
    // Sealed once: the same ciphertext goes into the row and to the first delivery attempt.
    const codeCipher = encryptCode(firstCipherKey, requestId, code);
    const codeDigest = digestCode(firstDigestKey, requestId, e164, code);
    const id = await ctx.batches.insert({
      requestId,
      phone: e164,
      channel,
      purpose,
      chain,
      codeDigest,
      codeCipher,
      messageTemplate: config.messageTemplate,
      leaseOwner: ctx.instanceId,
      leaseToken,
      leaseExpiresAt,
      clientIp: opts.ip ?? null,
      expiresAt,
      now,
    });
    // The older requests are superseded while the providers are called: both are awaited before the answer.
    const superseded = ctx.batches.supersede(e164, id, now);
    superseded.catch(() => undefined);
    events.emit('requested', { requestId, channel, phone: maskPhone(e164), chain });

    const row: RequestRow = {
      id, requestId, phone: e164, channel, purpose, chain, provider: null, providerRef: null, codeOwner: 'kit',
      codeDigest, codeCipher, messageTemplate: config.messageTemplate,
      status: 'sending', sendAttempts: 0, nextAttemptAt: leaseExpiresAt, leaseToken, leaseExpiresAt, lastError: null,
      verifyStatus: 'pending', attempts: 0, verifiedAt: null, tokenUsedAt: null, expiresAt, createdAt: now,
    };
    const outcome = await deliver(ctx, row, leaseToken, code);
    await superseded;
    if (outcome.status === 'failed' || outcome.status === 'unsendable' || outcome.status === 'expired') {
      throw new OtpError('PROVIDER_UNAVAILABLE', undefined, { requestId });
    }
    // 'lost-lease': the poller took the row over while providers were slow; it carries on from there.
    const status = outcome.status === 'lost-lease' ? 'queued' : outcome.status;
    const delivered = outcome.status === 'sent' ? outcome.provider : null;
    admission.sent();
    return {
      requestId,
      channel,
      provider: delivered,
      status,
      expiresAt: new Date(expiresAt),
      ...(outcome.status === 'sent' && outcome.codeOwner === 'kit' ? { code } : {}),
    };
  }

  /**
   * A live test number: the request row is stored with the fixed code's digest and marked sent by
   * `TestNumber`; no provider is called and no send limit counts it. Verification is the usual one.
   */
  async function sendToTestNumber(e164: string, channel: Channel, purpose: string, code: string, ip: string | undefined): Promise<SendResult> {
    const now = config.clock();
    const requestId = randomUUID();
    const leaseToken = randomUUID();
    const expiresAt = now + config.ttlSeconds * 1000;
    const id = await insertRequest(knex, tables, {
      requestId,
      phone: e164,
      channel,
      purpose,
      chain: [TEST_NUMBER_PROVIDER],
      codeDigest: digestCode(ctx.digestKeys[0] as Buffer, requestId, e164, code),
      codeCipher: encryptCode(ctx.cipherKeys[0] as Buffer, requestId, code),
      messageTemplate: config.messageTemplate,
      leaseOwner: ctx.instanceId,
      leaseToken,
      // Held for a minute so no poller takes the row between this insert and the update below.
      leaseExpiresAt: now + 60_000,
      clientIp: ip ?? null,
      expiresAt,
      now,
    });
    await finishAttempt(knex, tables, id, leaseToken, { status: 'sent', sendAttempts: 1, nextAttemptAt: null, provider: TEST_NUMBER_PROVIDER, codeOwner: 'kit', keepCipher: false, lastError: null, now });
    await supersedeOlder(knex, tables, e164, id, now);
    events.emit('requested', { requestId, channel, phone: maskPhone(e164), chain: [TEST_NUMBER_PROVIDER] });
    return { requestId, channel, provider: TEST_NUMBER_PROVIDER, status: 'sent', expiresAt: new Date(expiresAt), code };
  }

  /** The refusal for a row that a conditional UPDATE did not change: read it again and explain. */
  async function explainRefusal(requestId: string, read?: RequestRow): Promise<VerifyResult> {
    const fresh = read ?? (await requestByRequestId(knex, tables, requestId));
    const reason = refusal(fresh, config.clock(), config.maxAttempts) ?? 'OTP_NOT_FOUND';
    events.emit('verify-failed', { requestId, reason });
    return { requestValid: false, codeValid: false, reason, requestId };
  }

  async function verify(phone: PhoneInput, code: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
    const e164 = phoneOf(phone);
    if (!isCodeShaped(code)) {
      throw new OtpError('VALIDATION_FAILED', `"code" must be ${config.codeLength} digits`, { field: 'code' });
    }
    const purpose = opts.purpose === undefined ? undefined : purposeOf(opts.purpose);
    // Per-IP verify cap (429), before anything is looked up.
    await guard.admitVerify(e164, opts.ip);
    const now = config.clock();
    // The request and the number's lock rows in one statement, shared with the verifies in flight;
    // locks refuse (429) before anything else.
    const found = await ctx.batches.latest(e164);
    const locks = await guard.refuseIfLocked(e164, found?.locks);
    const row = found?.row;
    let refused: VerifyFailureCode | undefined = refusal(row, now, config.maxAttempts);
    if (refused === undefined && purpose !== undefined && row?.purpose !== purpose) refused = 'OTP_NOT_FOUND';
    if (row === undefined || refused !== undefined) {
      events.emit('verify-failed', { requestId: row?.requestId, reason: refused ?? 'OTP_NOT_FOUND' });
      return { requestValid: false, codeValid: false, reason: refused ?? 'OTP_NOT_FOUND', ...(row === undefined ? {} : { requestId: row.requestId }) };
    }

    if (row.codeOwner === 'kit' || row.provider === null) return checkKitCode(row, e164, code, now, locks);
    const provided = { ...row, provider: row.provider };
    // A provider-checked code: one unit of the number's failure budget is reserved before the
    // provider compares it, and settled by the outcome.
    const guess = await guard.reserveGuess(e164, locks);
    let result: VerifyResult | undefined;
    try {
      result = await checkCode(provided, e164, code, now);
      return result;
    } finally {
      await guess.settle(result);
    }
  }

  /**
   * A code the kit checks itself. A right code is consumed by one UPDATE that also requires the
   * number's failure budget unspent (so it is decided atomically against every guess in flight,
   * and the budget costs no statement when nothing was counted); a wrong one reserves its unit of
   * the budget before it is counted on the request, as a provider-checked guess does.
   */
  async function checkKitCode(row: RequestRow, e164: string, code: string, now: number, locks: LockState): Promise<VerifyResult> {
    if (codeMatches(ctx.digestKeys, row.codeDigest, row.requestId, e164, code)) {
      const budget = guard.budgetGuard;
      const consumed = await consumeRequest(knex, tables, row.id, now, config.maxAttempts, false, budget === undefined ? undefined : { ...budget, phone: e164 });
      if (!consumed) {
        const fresh = await requestByRequestId(knex, tables, row.requestId);
        // Still live: the failure budget was spent by guesses in flight (429); otherwise the row explains.
        if (refusal(fresh, config.clock(), config.maxAttempts) === undefined) await guard.refuseIfSpent(e164);
        return explainRefusal(row.requestId, fresh);
      }
      await guard.succeeded(e164, locks);
      return verified(row, e164);
    }
    const guess = await guard.reserveGuess(e164, locks);
    let result: VerifyResult | undefined;
    try {
      if (!(await countAttempt(knex, tables, row.id, now, config.maxAttempts))) {
        result = await explainRefusal(row.requestId);
        return result;
      }
      events.emit('verify-failed', { requestId: row.requestId, reason: 'OTP_INVALID' });
      result = { requestValid: true, codeValid: false, reason: 'OTP_INVALID', requestId: row.requestId, attemptsLeft: Math.max(0, config.maxAttempts - row.attempts - 1) };
      return result;
    } finally {
      await guess.settle(result);
    }
  }

  /** The answer to a consumed request: a signed, single-use verification token. */
  function verified(row: RequestRow, e164: string): VerifyResult {
    const verifiedAt = config.clock();
    const { token, expiresAt } = signToken(ctx.tokenRing, { phone: e164, requestId: row.requestId, purpose: row.purpose, verifiedAt }, verifiedAt, config.tokenTtlSeconds);
    events.emit('verified', { requestId: row.requestId, provider: row.provider });
    return { requestValid: true, codeValid: true, requestId: row.requestId, token, tokenExpiresAt: expiresAt };
  }

  /** Checks a code with the provider that owns it, and consumes the request atomically on success. */
  async function checkCode(row: RequestRow & { provider: string }, e164: string, code: string, now: number): Promise<VerifyResult> {
    // Sticky: the provider that delivered checks the code. The attempt is reserved first, so
    // parallel guesses cannot exceed the cap while the provider call is in flight.
    if (!(await countAttempt(knex, tables, row.id, now, config.maxAttempts))) return explainRefusal(row.requestId);
    const provider = registry.get(row.provider);
    if (provider.check === undefined) throw new OtpError('CONFIG_INVALID', `provider ${row.provider} owns codes but has no check()`);
    const check = provider.check.bind(provider);
    let result;
    try {
      result = await callProvider(row.provider, config.providerTimeoutMs, (signal) =>
        check({ requestId: row.requestId, phone: e164, channel: row.channel, code, signal, ...(row.providerRef === null ? {} : { ref: row.providerRef }) }),
      );
    } catch (error) {
      const summary = error instanceof ProviderError ? error.summary() : String(error);
      logger.warn({ requestId: row.requestId, provider: row.provider, error: String(redact(summary, { phone: e164, code })) }, 'otp provider check failed');
      throw new OtpError('PROVIDER_UNAVAILABLE', 'The code could not be checked right now; try again.', { requestId: row.requestId });
    }
    if (result.status === 'gone') {
      events.emit('verify-failed', { requestId: row.requestId, reason: 'OTP_EXPIRED' });
      return { requestValid: false, codeValid: false, reason: 'OTP_EXPIRED', requestId: row.requestId };
    }
    if (result.status === 'wrong') {
      events.emit('verify-failed', { requestId: row.requestId, reason: 'OTP_INVALID' });
      return { requestValid: true, codeValid: false, reason: 'OTP_INVALID', requestId: row.requestId, attemptsLeft: Math.max(0, config.maxAttempts - row.attempts - 1) };
    }
    const consumed = await consumeRequest(knex, tables, row.id, config.clock(), config.maxAttempts, true);
    if (!consumed) return explainRefusal(row.requestId);
    return verified(row, e164);
  }

  async function checkToken(token: string, opts: TokenCheckOptions = {}): Promise<VerifiedOtp> {
    const result = await verifyToken(ctx.tokenRing, token, config.clock(), TOKEN_SKEW_SECONDS);
    if (!result.ok) throw new OtpError(result.reason === 'expired' ? 'OTP_TOKEN_EXPIRED' : 'OTP_TOKEN_INVALID');
    const { claims } = result;
    if (opts.purpose !== undefined && claims.purpose !== opts.purpose) throw new OtpError('OTP_PURPOSE_MISMATCH');
    if ((opts.singleUse ?? true) && !(await spendToken(knex, tables, claims.requestId, claims.phone, config.clock()))) {
      throw new OtpError('OTP_TOKEN_USED');
    }
    return { phone: claims.phone, requestId: claims.requestId, purpose: claims.purpose, verifiedAt: new Date(claims.verifiedAt) };
  }

  return {
    config,
    events,
    knex,
    context: ctx,
    migrate: () => migrateOtpTables(knex, tables),
    async ready() {
      for (const table of [tables.settings, tables.requests, ...guard.tables]) {
        if (!(await knex.schema.hasTable(table))) {
          throw new OtpError('CONFIG_INVALID', `table "${table}" does not exist: run \`await otp.migrate()\` (or the Knex CLI with the kit's migration source) first`);
        }
      }
      // The row as it is now, not as cached a moment ago.
      routing.invalidate();
      buildAll(await routing.current());
    },
    sendSms: (phone, opts) => send(phone, 'sms', opts),
    call: (phone, opts) => send(phone, 'call', opts),
    send,
    verify,
    checkToken,
    async setTestNumbers(list) {
      await testNumbers.write(list);
    },
    async setRouting(value) {
      await routing.write(value);
    },
    routing: () => routing.current(),
    startRetryPoller: (pollerOptions) => startRetryPoller(ctx, pollerOptions),
    async close() {
      await ctx.batches.drain();
      if (ownsDb) await knex.destroy();
    },
  };
}
