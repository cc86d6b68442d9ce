/**
 * Provider health as this process saw it: the outcome of the last few provider calls per provider
 * (from the kit's `sent` and `failed` events), kept in a small in-memory window. Another process's
 * calls are not seen; a restart forgets everything. Used by the status router's `/providers`.
 */
import type { OtpEvents } from '../events.js';
import { isoOrNull, safeLabel, safeText } from './safe-text.js';

export type ProviderHealthStatus =
  /** No call to this provider was seen since the tracker started. */
  | 'unknown'
  /** The recent calls succeeded. */
  | 'ok'
  /** Some recent calls failed, or the last one did. */
  | 'degraded'
  /** The last `FAILING_AFTER` calls or more all failed. */
  | 'failing';

export interface ProviderHealth {
  readonly provider: string;
  readonly status: ProviderHealthStatus;
  /** Calls (sends) and failures among the last `windowSize` calls. */
  readonly recentCalls: number;
  readonly recentFailures: number;
  readonly consecutiveFailures: number;
  readonly lastSuccessAt: string | null;
  readonly lastFailureAt: string | null;
  /** The accepted send's latency, in ms. */
  readonly lastLatencyMs: number | null;
  /** The last failure, already redacted by the kit and scrubbed again: no number, no code. */
  readonly lastError: { readonly at: string; readonly kind: string; readonly retryable: boolean; readonly providerCode: string | null; readonly message: string | null } | null;
}

export interface ProviderHealthTracker {
  /** When tracking started (epoch ms, the kit's clock). */
  readonly since: number;
  readonly windowSize: number;
  /** Health of `names` (in that order, `unknown` when never seen), then of any other provider seen. */
  snapshot(names?: readonly string[]): ProviderHealth[];
  /** Stops listening to the kit's events. */
  stop(): void;
}

export interface ProviderHealthOptions {
  /** Calls remembered per provider. @default 50 */
  readonly windowSize?: number;
}

/** Consecutive failures after which a provider is `failing`. */
const FAILING_AFTER = 3;
/** Distinct provider names remembered; names come from the configuration, so this is generous. */
const MAX_PROVIDERS = 64;

interface Entry {
  outcomes: boolean[];
  consecutiveFailures: number;
  lastSuccessAt: number | null;
  lastFailureAt: number | null;
  lastLatencyMs: number | null;
  lastError: ProviderHealth['lastError'];
}

export function trackProviderHealth(kit: { readonly events: OtpEvents; readonly config: { readonly clock: () => number } }, options: ProviderHealthOptions = {}): ProviderHealthTracker {
  const windowSize = options.windowSize ?? 50;
  if (!Number.isInteger(windowSize) || windowSize < 1 || windowSize > 10_000) {
    throw new RangeError(`provider health: \`windowSize\` must be a whole number from 1 to 10000 (got ${String(windowSize)})`);
  }
  const { clock } = kit.config;
  const entries = new Map<string, Entry>();

  const entryOf = (raw: string): Entry | undefined => {
    const name = safeLabel(raw);
    let entry = entries.get(name);
    if (entry === undefined) {
      if (entries.size >= MAX_PROVIDERS) return undefined;
      entry = { outcomes: [], consecutiveFailures: 0, lastSuccessAt: null, lastFailureAt: null, lastLatencyMs: null, lastError: null };
      entries.set(name, entry);
    }
    return entry;
  };
  const record = (entry: Entry, ok: boolean): void => {
    entry.outcomes.push(ok);
    if (entry.outcomes.length > windowSize) entry.outcomes.shift();
  };

  const onSent = (e: { provider: string; latencyMs: number }): void => {
    const entry = entryOf(e.provider);
    if (entry === undefined) return;
    record(entry, true);
    entry.consecutiveFailures = 0;
    entry.lastSuccessAt = clock();
    entry.lastLatencyMs = e.latencyMs;
  };
  const onFailed = (e: { provider: string; kind: string; retryable: boolean; providerCode: string | undefined; error: string }): void => {
    const entry = entryOf(e.provider);
    if (entry === undefined) return;
    record(entry, false);
    entry.consecutiveFailures += 1;
    const at = clock();
    entry.lastFailureAt = at;
    entry.lastError = {
      at: new Date(at).toISOString(),
      kind: safeLabel(e.kind),
      retryable: e.retryable,
      providerCode: e.providerCode === undefined ? null : safeLabel(e.providerCode),
      message: safeText(e.error),
    };
  };
  kit.events.on('sent', onSent);
  kit.events.on('failed', onFailed);
  const since = clock();

  const view = (provider: string, entry: Entry | undefined): ProviderHealth => {
    if (entry === undefined || entry.outcomes.length === 0) {
      return { provider, status: 'unknown', recentCalls: 0, recentFailures: 0, consecutiveFailures: 0, lastSuccessAt: null, lastFailureAt: null, lastLatencyMs: null, lastError: null };
    }
    const recentFailures = entry.outcomes.filter((ok) => !ok).length;
    const status: ProviderHealthStatus = entry.consecutiveFailures >= FAILING_AFTER ? 'failing' : recentFailures > 0 ? 'degraded' : 'ok';
    return {
      provider,
      status,
      recentCalls: entry.outcomes.length,
      recentFailures,
      consecutiveFailures: entry.consecutiveFailures,
      lastSuccessAt: isoOrNull(entry.lastSuccessAt),
      lastFailureAt: isoOrNull(entry.lastFailureAt),
      lastLatencyMs: entry.lastLatencyMs,
      lastError: entry.lastError,
    };
  };

  return {
    since,
    windowSize,
    snapshot(names = []) {
      const listed = names.map((n) => safeLabel(n));
      const out = listed.map((name) => view(name, entries.get(name)));
      for (const [name, entry] of entries) if (!listed.includes(name)) out.push(view(name, entry));
      return out;
    },
    stop() {
      kit.events.off('sent', onSent);
      kit.events.off('failed', onFailed);
    },
  };
}
