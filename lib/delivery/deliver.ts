/**
 * One delivery attempt of a leased request row: walk its provider chain in order until one
 * accepts, then write the outcome fenced by the lease token. Used by the send path (first attempt)
 * and by the retry poller (later attempts), so both behave the same: same code, same text, same
 * classification, same backoff.
 */
import { randomInt } from 'node:crypto';
import { retryDelayMs } from '../core/backoff.js';
import { parseChainStep } from '../core/channels.js';
import { decryptCode, renderMessage } from '../core/code.js';
import { withOneTap, type ResolvedWebOtp } from '../core/webotp.js';
import { keepsProviderPayloads, type ResolvedRetention } from '../core/retention.js';
import { redactText, redactToJson } from '../core/redact.js';
import { coerceError } from '../errors.js';
import { ProviderError } from '../providers/provider-error.js';
import { callProvider } from '../providers/timeout.js';
import type { ResolvedWebhooks } from '../core/webhook-options.js';
import type { OtpEvents } from '../events.js';
import { webhookEntries } from '../webhooks/payload.js';
import type { ProviderRegistry } from '../providers/index.js';
import type { RequestRow } from '../storage/request-row.js';
import type { RequestStore } from '../storage/request-store.js';
import type { OutboxEntry } from '../storage/outbox-queries.js';
import type { Channel, DeliveryStatus, Logger, OtpProvider } from '../types.js';

/** What a delivery attempt needs of the kit's settings. */
export interface DeliveryConfig {
  readonly clock: () => number;
  readonly logger: Logger;
  readonly appName: string;
  readonly providerTimeoutMs: number;
  readonly retry: boolean;
  readonly maxRetries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Webhooks in force: their events are written with the outcome (same transaction). */
  readonly webhooks: ResolvedWebhooks | undefined;
  /** One-tap entry: the WebOTP line and app hash for kit-owned text messages. */
  readonly webOtp: ResolvedWebOtp | undefined;
  /** Which deliveries keep the redacted provider payloads. */
  readonly retention: Pick<ResolvedRetention, 'providerPayloads'>;
}

/** Everything a delivery attempt uses; built once by createOtp, shared by the send path and the poller. */
export interface DeliveryDeps {
  readonly config: DeliveryConfig;
  readonly events: OtpEvents;
  readonly registry: ProviderRegistry;
  readonly store: Pick<RequestStore, 'markSent' | 'finish' | 'holdsLease'>;
  /** Opens sealed codes (first key current, the others for rotation). */
  readonly cipherKeys: readonly Buffer[];
  /** Provider credentials, blanked out of anything stored or logged. */
  readonly secrets: readonly string[];
}

export interface DeliveryOutcome {
  /** The row's status after this attempt, or `lost-lease` when another worker owns it now. */
  readonly status: DeliveryStatus | 'lost-lease';
  readonly provider: string | null;
  /** The channel of the delivering step (the row's channel when nothing was delivered). */
  readonly channel: Channel;
  readonly codeOwner: 'kit' | 'provider';
  readonly errors: readonly ProviderError[];
}

/**
 * When every provider of the chain refused the number for a while (Twilio 60203/60202), the wait in
 * seconds: the send answers 429 with it instead of a provider failure. Undefined otherwise.
 */
export function rateLimitedFor(errors: readonly ProviderError[]): number | undefined {
  if (errors.length === 0 || !errors.every((e) => e.kind === 'rate-limited')) return undefined;
  return Math.max(1, Math.ceil(Math.min(...errors.map((e) => e.retryAfterMs ?? 1000)) / 1000));
}

/** The `otp.failed` webhook of a row that will not be delivered (none when not subscribed). */
function failedEntries(config: DeliveryConfig, row: RequestRow, status: DeliveryStatus, attempts: number, now: number): ReturnType<typeof webhookEntries> {
  return webhookEntries(config.webhooks, 'otp.failed', () => ({ requestId: row.requestId, phone: row.phone, channel: row.channel, provider: row.provider, extra: { status, attempts } }), now);
}

/**
 * The text a provider that delivers the kit's code sends: the stored (localized) template, and on
 * a text message the app hash and the WebOTP line. A voice call reads the plain text.
 */
function textFor(config: DeliveryConfig, template: string, code: string, channel: Channel): string {
  const text = renderMessage(template, code, config.appName);
  return channel === 'sms' ? withOneTap(text, code, config.webOtp) : text;
}

/** Is a later workflow step scheduled for this row (issue 26)? */
function stepPending(row: RequestRow): boolean {
  return row.stepDueAt !== undefined && row.stepDueAt !== null;
}

/** Float in [0, 1) from the CSPRNG, for jitter. */
const jitterRandom = (): number => randomInt(1_000_000) / 1_000_000;

/** A lease long enough for the whole chain to time out once, plus slack. */
export function leaseMsFor(providerTimeoutMs: number, chainLength: number): number {
  return chainLength * providerTimeoutMs + 5_000;
}

/**
 * `plainCode` is the code the caller sealed into `row` a moment ago (the send path), so the first
 * attempt need not open the seal again; the poller leaves it out and the sealed code is opened.
 * A row read from the table (no `plainCode`) may have been erased by `otp.forget()` (or taken over)
 * since it was claimed: before each provider call the lease is checked, and a row no longer held
 * is never sent.
 */
/** Webhook events to write with a delivered mark (a workflow step's `otp.escalated`), same transaction. */
export type SentHooks = (provider: string, channel: Channel, at: number) => readonly OutboxEntry[];

export async function deliver(ctx: DeliveryDeps, row: RequestRow, leaseToken: string, plainCode?: string, sentHooks?: SentHooks): Promise<DeliveryOutcome> {
  const { config, events, store } = ctx;
  const attempt = row.sendAttempts + 1;
  const now = config.clock();

  if (now >= row.expiresAt) {
    const patch = { status: 'expired', sendAttempts: row.sendAttempts, nextAttemptAt: null, keepCipher: false, lastError: row.lastError, now } as const;
    const ok = await store.finish(row.id, leaseToken, patch, failedEntries(config, row, 'expired', row.sendAttempts, now));
    if (ok) events.emit('expired', { requestId: row.requestId, attempts: row.sendAttempts });
    return { status: ok ? 'expired' : 'lost-lease', provider: null, channel: row.channel, codeOwner: row.codeOwner, errors: [] };
  }

  const code = plainCode ?? (row.codeCipher === null ? undefined : decryptCode(ctx.cipherKeys, row.requestId, row.codeCipher));
  const errors: ProviderError[] = [];
  const secrets = ctx.secrets;

  for (const entry of row.chain) {
    const { provider: name, channel } = parseChainStep(entry, row.channel);
    // A slow provider may have used up the code's lifetime: the next one must not send a dead code.
    if (config.clock() >= row.expiresAt) break;
    let provider: OtpProvider;
    try {
      provider = ctx.registry.get(name);
    } catch (error) {
      // A provider whose settings are missing fails permanently for this attempt; the chain goes on.
      errors.push(new ProviderError({ provider: name, kind: 'rejected', retryable: false, message: coerceError(error).message }));
      continue;
    }
    if (!provider.channels.includes(channel)) continue;
    if (!code) {
      // The sealed code is gone (secret changed without rotation): a retry cannot send the same code.
      errors.push(new ProviderError({ provider: name, kind: 'rejected', retryable: false, message: 'the sealed code cannot be opened with the configured secrets' }));
      break;
    }
    // Lease fencing before the send, not only at the write: a forgotten number is never sent to.
    if (plainCode === undefined && !(await store.holdsLease(row.id, leaseToken))) return { status: 'lost-lease', provider: null, channel, codeOwner: row.codeOwner, errors };
    const started = config.clock();
    try {
      const text = textFor(config, row.messageTemplate, code, channel);
      const extras = { ...(row.locale === null ? {} : { locale: row.locale }), ...(config.webOtp?.appHash === undefined ? {} : { appHash: config.webOtp.appHash }) };
      const result = await callProvider(name, config.providerTimeoutMs, (signal) =>
        provider.send({ requestId: row.requestId, phone: row.phone, channel, code, text, signal, ...extras }),
      );
      const redactCtx = { phone: row.phone, code, secrets };
      const codeOwner = provider.ownsCode ? 'provider' : 'kit';
      const lastError = errors.length === 0 ? null : errors.map((e) => redactText(e.summary(), redactCtx, 160)).join('; ').slice(0, 500);
      // Data minimisation: a clean first delivery keeps nothing of the provider traffic.
      const keep = keepsProviderPayloads(config.retention, attempt, errors.length);
      const mark = {
        id: row.id,
        leaseToken,
        sendAttempts: attempt,
        provider: name,
        channel,
        providerRef: result.ref?.slice(0, 128) ?? null,
        codeOwner,
        lastError,
        providerRequest: keep ? redactToJson(result.request, redactCtx) : null,
        providerResponse: keep ? redactToJson(result.response, redactCtx) : null,
        // A workflow step follows: it may have to deliver the same (kit) code.
        keepCipher: stepPending(row),
      } as const;
      const at = config.clock();
      const hooks = [...webhookEntries(config.webhooks, 'otp.sent', () => ({ requestId: row.requestId, phone: row.phone, channel, provider: name, extra: { attempt } }), at), ...(sentHooks?.(name, channel, at) ?? [])];
      const ok = await store.markSent(mark, row.leaseExpiresAt, at, hooks);
      if (!ok) return { status: 'lost-lease', provider: name, channel, codeOwner, errors };
      events.emit('sent', { requestId: row.requestId, channel, provider: name, attempt, latencyMs: config.clock() - started });
      return { status: 'sent', provider: name, channel, codeOwner, errors };
    } catch (error) {
      const failure = error instanceof ProviderError ? error : new ProviderError({ provider: name, kind: 'bad-response', retryable: true, message: coerceError(error).message });
      errors.push(failure);
      const summary = redactText(failure.summary(), { phone: row.phone, code, secrets });
      config.logger.warn({ requestId: row.requestId, provider: name, attempt, retryable: failure.retryable, providerCode: failure.providerCode, error: summary }, 'otp provider failed');
      events.emit('failed', { requestId: row.requestId, channel, provider: name, attempt, latencyMs: config.clock() - started, retryable: failure.retryable, kind: failure.kind, providerCode: failure.providerCode, error: summary });
    }
  }

  const lastError = errors.length === 0 ? `no provider in the chain (${row.chain.join(', ')}) serves ${row.channel}` : errors.map((e) => e.summary()).join('; ');
  const safeError = redactText(lastError, { phone: row.phone, code, secrets });
  const retryable = errors.some((e) => e.retryable);
  const finished = config.clock();
  let status: DeliveryStatus;
  let nextAttemptAt: number | null = null;
  if (finished >= row.expiresAt) status = 'expired';
  else if (!config.retry || !retryable) status = 'failed';
  else if (attempt > config.maxRetries) status = 'unsendable';
  else {
    // Never sooner than every failing provider asked (Retry-After); one without a wait may answer any time.
    const asked = Math.min(...errors.map((e) => e.retryAfterMs ?? 0));
    const delay = Math.max(asked, retryDelayMs(attempt, { baseMs: config.baseDelayMs, maxMs: config.maxDelayMs, jitter: 0.5 }, jitterRandom));
    nextAttemptAt = finished + delay;
    // A retry after the code's expiry could only deliver a dead code.
    status = nextAttemptAt >= row.expiresAt ? 'expired' : 'queued';
    if (status === 'expired') nextAttemptAt = null;
  }
  const hooks = status === 'queued' ? [] : failedEntries(config, row, status, attempt, finished);
  // A workflow step the poller runs that failed for good hands over to the next step at once (its
  // code is kept for it); a failed first step on the send path ends the workflow there (send.ts).
  const moveOn = plainCode === undefined && stepPending(row) && (status === 'failed' || status === 'unsendable');
  const patch = { status, sendAttempts: attempt, nextAttemptAt, keepCipher: status === 'queued' || moveOn, lastError: safeError, now: finished, ...(moveOn ? { stepDueAt: finished } : {}) };
  const ok = await store.finish(row.id, leaseToken, patch, hooks);
  if (!ok) return { status: 'lost-lease', provider: null, channel: row.channel, codeOwner: row.codeOwner, errors };
  if (status === 'queued' && nextAttemptAt !== null) {
    events.emit('retry-scheduled', { requestId: row.requestId, attempt, delayMs: nextAttemptAt - finished, nextAttemptAt: new Date(nextAttemptAt) });
  } else if (status === 'unsendable') {
    events.emit('unsendable', { requestId: row.requestId, attempts: attempt, error: safeError });
  } else if (status === 'expired') {
    events.emit('expired', { requestId: row.requestId, attempts: attempt });
  } else {
    events.emit('delivery-failed', { requestId: row.requestId, attempt, error: safeError });
  }
  return { status, provider: null, channel: row.channel, codeOwner: row.codeOwner, errors };
}
