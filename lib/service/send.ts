/**
 * A send, step by step: check the input → test number? → routed provider chain for the channel →
 * send admission (limits, challenge, destination policy; lib/limits/send-admission.ts) → commit
 * the request row first (the outbox: code digest and sealed code, under a lease) → supersede the
 * number's older requests, when there can be any (lib/core/supersede-plan.ts) → first delivery
 * attempt (lib/delivery/deliver.ts). A failed attempt stays in the retry table for the poller.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { digestCode, encryptCode, generateCode } from '../core/code.js';
import { channelWords, formatChainStep, type ChainStep } from '../core/channels.js';
import { chooseTemplate } from '../core/locale.js';
import { maskPhone, type CanonicalPhone } from '../core/phone.js';
import { chainFor } from '../core/routing.js';
import { supersedePlan, type SupersedePlan } from '../core/supersede-plan.js';
import { TEST_NUMBER_PROVIDER } from '../core/test-numbers.js';
import { deliver, leaseMsFor, rateLimitedFor } from '../delivery/deliver.js';
import { OtpError } from '../errors.js';
import { sleep } from '../limits/decoy-timing.js';
import { destinationRefusal } from '../limits/destination.js';
import type { Recorded } from '../limits/send-admission.js';
import { storedClientIp } from '../limits/keys.js';
import type { RequestRow } from '../storage/request-row.js';
import type { Channel, PhoneInput, SendOptions, SendResult } from '../types.js';
import { assertSecretFits, type OtpDeps, type Outcome } from './deps.js';
import { assertChannel, parsePhone, purposeOf, wantedLocales } from './inputs.js';
import { newRequestId, nextIv } from './iv-pool.js';
import { planFor } from '../core/workflow.js';
import { endFailedWorkflow, workflowStart } from './workflow.js';
import { serves } from './provider-serves.js';


/**
 * The routed providers that can serve the channel, then those of each `channelFallback` channel
 * the destination policy allows for the number (stored as `call:Twilio` steps). None left is an
 * honest refusal, never a fake success.
 */
export async function deliverableChain(deps: OtpDeps, number: CanonicalPhone, channel: Channel): Promise<string[]> {
  const routed = chainFor(await deps.routing.current(), number.e164);
  assertSecretFits(deps.config, routed);
  const steps: ChainStep[] = routed.filter((name) => serves(deps, name, channel)).map((provider) => ({ provider, channel }));
  for (const next of deps.config.channelFallback[channel] ?? []) {
    if (destinationRefusal(number, next, deps.config.destinations) !== undefined) continue;
    steps.push(...routed.filter((name) => serves(deps, name, next)).map((provider) => ({ provider, channel: next })));
  }
  if (steps.length === 0) {
    throw new OtpError('CHANNEL_UNSUPPORTED', `No configured provider can deliver a ${channelWords(channel)} to this number.`, { channel });
  }
  return steps.map((step) => formatChainStep(step, channel));
}

/** What the resend path adds to a send (lib/service/resend.ts). */
export interface SendInternals {
  /** A switch to another channel: its own cooldown replaces the per-number one. */
  readonly channelSwitch?: boolean;
  /** The superseded request's locale, used when the resend names none. */
  readonly locale?: string | null;
  /** The resend took the client's `sendsPerIp` unit before its lookup. */
  readonly ipCounted?: boolean;
}

export async function sendOtp(deps: OtpDeps, phone: PhoneInput, channel: Channel, opts: SendOptions = {}, internals: SendInternals = {}): Promise<Outcome<SendResult>> {
  assertChannel(channel);
  const { config, events } = deps;
  const number = parsePhone(phone, config.defaultCountry);
  const e164 = number.e164;
  const purpose = purposeOf(opts.purpose);
  const wanted = wantedLocales(opts);
  const text = chooseTemplate(config.templates, wanted.length === 0 && typeof internals.locale === 'string' ? [internals.locale] : wanted);
  // Checked before any limit counts the send: a malformed per-send workflow is a 400.
  const plan = planFor(config, purpose, channel, opts.workflow);
  // Read alongside the test numbers and the routing (all cached settings rows), awaited at admission.
  const safeLookup = deps.fraud.safeList.match(e164, opts.ip);
  safeLookup.catch(() => undefined);
  const testNumber = await deps.testNumbers.lookup(e164);
  if (testNumber !== undefined) return { result: await sendToTestNumber(deps, e164, channel, purpose, testNumber.code, opts.ip) };
  const chain = await deliverableChain(deps, number, channel);
  const challengeToken = typeof opts.challengeToken === 'string' ? opts.challengeToken : undefined;
  const safe = await safeLookup;
  if (safe !== undefined) deps.fraud.safeList.used(safe, 'send');
  // Fixed before the take that records the request: it then expires within its lifetime of its record.
  const now = config.clock();
  const admission = await deps.admission.admit({ number, channel, purpose, ip: opts.ip, challengeToken, channelSwitch: internals.channelSwitch === true, ipCounted: internals.ipCounted === true, ...(safe === undefined ? {} : { safe }) });
  if ('refusal' in admission) return { refusal: admission.refusal };
  if ('decoy' in admission) return { result: admission.decoy };

  const requestId = newRequestId(now);
  const code = generateCode(config.codeLength, randomInt);
  const leaseToken = randomUUID();
  // The lease runs from now, not from before the take: admission's time does not shorten it.
  const leaseExpiresAt = config.clock() + leaseMsFor(config.providerTimeoutMs, chain.length);
  const expiresAt = now + config.ttlSeconds * 1000;
  // Sealed once: the same ciphertext goes into the row and to the first delivery attempt.
  const codeCipher = encryptCode(deps.keys.cipher[0] as Buffer, requestId, code, nextIv());
  const codeDigest = digestCode(deps.keys.digest[0] as Buffer, requestId, e164, code);
  const messageTemplate = text.template;
  const locale = text.locale ?? null;
  // The workflow (if any) is written by the insert itself: no request row ever lacks its workflow.
  const started = plan === undefined ? undefined : workflowStart(plan, channel, now);
  const id = await deps.store.insert({
    requestId, phone: e164, channel, purpose, chain, codeDigest, codeCipher, messageTemplate, locale,
    leaseOwner: deps.instanceId, leaseToken, leaseExpiresAt, clientIp: storedClientIp(opts.ip, config.limits.ipv6Subnet), expiresAt, now,
    ...(started === undefined ? {} : { workflow: started.insert }),
  });
  const workflow = started?.columns;
  // The older requests are superseded (when there can be any) while the providers are called: both are awaited before the answer.
  const superseded = supersedeAsPlanned(deps, supersedePlanOf(admission.recorded, performance.now()), e164, id, now);
  superseded.catch(() => undefined);
  events.emit('requested', { requestId, channel, phone: maskPhone(e164), chain });

  const row: RequestRow = {
    id, requestId, phone: e164, channel, purpose, chain, provider: null, providerRef: null, codeOwner: 'kit',
    codeDigest, codeCipher, messageTemplate, locale,
    status: 'sending', sendAttempts: 0, nextAttemptAt: leaseExpiresAt, leaseToken, leaseExpiresAt, lastError: null,
    verifyStatus: 'pending', attempts: 0, verifiedAt: null, tokenUsedAt: null, expiresAt, createdAt: now, ...workflow,
  };
  const outcome = await deliver(deps.delivery, row, leaseToken, code);
  await superseded;
  if (outcome.status === 'failed' || outcome.status === 'unsendable' || outcome.status === 'expired') {
    if (workflow !== undefined) await endFailedWorkflow(deps, id);
    const wait = rateLimitedFor(outcome.errors);
    if (wait !== undefined) return { refusal: { code: 'RATE_LIMITED', retryAfter: wait, limit: 'provider' } };
    throw new OtpError('PROVIDER_UNAVAILABLE', undefined, { requestId });
  }
  // 'lost-lease': the poller took the row over while providers were slow; it carries on from there.
  const status = outcome.status === 'lost-lease' ? 'queued' : outcome.status;
  admission.sent();
  return {
    result: {
      requestId,
      channel: outcome.channel,
      provider: outcome.status === 'sent' ? outcome.provider : null,
      status,
      expiresAt: new Date(expiresAt),
      ...(outcome.status === 'sent' && outcome.codeOwner === 'kit' ? { code } : {}),
    },
  };
}

/**
 * A live test number: the request row is stored with the fixed code's digest and marked sent by
 * `TestNumber`; no provider is called and no send limit counts it. Verification is the usual one.
 */
async function sendToTestNumber(deps: OtpDeps, e164: string, channel: Channel, purpose: string, code: string, ip: string | undefined): Promise<SendResult> {
  const { config, store } = deps;
  const now = config.clock();
  const requestId = newRequestId(now);
  const leaseToken = randomUUID();
  const expiresAt = now + config.ttlSeconds * 1000;
  // No limit counts a test number, but its request is recorded like any other.
  const recorded = await deps.admission.record(e164);
  const id = await store.insert({
    requestId,
    phone: e164,
    channel,
    purpose,
    chain: [TEST_NUMBER_PROVIDER],
    codeDigest: digestCode(deps.keys.digest[0] as Buffer, requestId, e164, code),
    codeCipher: encryptCode(deps.keys.cipher[0] as Buffer, requestId, code, nextIv()),
    messageTemplate: config.messageTemplate,
    locale: null,
    leaseOwner: deps.instanceId,
    leaseToken,
    // Held for a minute so no poller takes the row between this insert and the update below.
    leaseExpiresAt: now + 60_000,
    clientIp: storedClientIp(ip, config.limits.ipv6Subnet),
    expiresAt,
    now,
  });
  const insertedAt = performance.now();
  await store.finish(id, leaseToken, { status: 'sent', sendAttempts: 1, nextAttemptAt: null, provider: TEST_NUMBER_PROVIDER, codeOwner: 'kit', keepCipher: false, lastError: null, now });
  await supersedeAsPlanned(deps, supersedePlanOf(recorded, insertedAt), e164, id, now);
  deps.events.emit('requested', { requestId, channel, phone: maskPhone(e164), chain: [TEST_NUMBER_PROVIDER] });
  return { requestId, channel, provider: TEST_NUMBER_PROVIDER, status: 'sent', expiresAt: new Date(expiresAt), code };
}

/** The plan for a request whose take answered `recorded` and whose insert answered at `insertedAt`. */
function supersedePlanOf(recorded: Recorded, insertedAt: number): SupersedePlan {
  return supersedePlan({ made: recorded.made, keepMs: recorded.keepMs, takeSentAt: recorded.sentAt, takeAnsweredAt: recorded.answeredAt, insertedAt });
}

/** Runs the supersede the plan asks for (lib/core/supersede-plan.ts): none, at once, or after a wait, of every request older than the newest. */
async function supersedeAsPlanned(deps: OtpDeps, plan: SupersedePlan, e164: string, id: number, now: number): Promise<void> {
  if (plan.kind === 'skip') return;
  if (plan.kind === 'now') {
    await deps.store.supersede(e164, id, now);
    return;
  }
  const wait = plan.at - performance.now();
  if (wait > 0) await sleep(wait);
  await deps.store.supersedeBelowNewest(e164, deps.config.clock());
}
