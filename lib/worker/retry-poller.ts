/**
 * The bundled retry poller: `otp.startRetryPoller(options)`. Every `pollInterval` it claims a batch
 * of due request rows under a lease (lib/storage/retry-queries.ts) and runs one delivery attempt
 * per row (lib/delivery/deliver.ts), at most `concurrency` at a time. Each result is written only
 * while the poller still holds the row's lease token, so a worker whose lease ran out cannot
 * overwrite another's result. Nothing sleeps per row: a failing number waits in the table
 * (`next_attempt_at`), not in the poller.
 *
 * Any number of processes may run a poller on the same database. Timers are unref'd and chained
 * (no overlapping polls); nothing starts at import time.
 */
import Joi from 'joi';
import { configError } from '../errors.js';
import type { Knex } from 'knex';
import type { Routing } from '../core/routing.js';
import { deliver, leaseMsFor, type DeliveryDeps } from '../delivery/deliver.js';
import type { OtpTableNames } from '../storage/migrations.js';
import type { RequestRow } from '../storage/request-row.js';
import { claimDueRequests, extendLease, releaseClaims } from '../storage/retry-queries.js';
import { startPollLoop } from './poll-loop.js';
import type { Logger } from '../types.js';
import { loggableError } from '../core/safe-error.js';
import { startPurgeTimer } from './purge-timer.js';
import { claimSteps, releaseStepClaims, runStep, type WorkflowStepDeps } from './workflow-steps.js';

/** What the poller works with; `createOtp` builds it, so the poller never imports the service. */
export interface RetryPollerDeps {
  readonly delivery: DeliveryDeps;
  readonly knex: Knex;
  readonly tables: OtpTableNames;
  /** This process's id in lease_owner columns. */
  readonly instanceId: string;
  /** The routing in force, for the longest chain a claim's lease must cover. */
  readonly routing: () => Promise<Routing>;
  /** The retention purge (`otp.purge`), run every `purgeInterval`. */
  readonly purge?: (signal: AbortSignal) => Promise<unknown>;
  /** Runs due escalation-workflow steps (issue 26, lib/worker/workflow-steps.ts). */
  readonly workflow?: WorkflowStepDeps;
  /** Ends the requests that have ended (end events, rollups) and writes counted refusals, every `endSweepInterval`. */
  readonly endSweep?: (signal: AbortSignal) => Promise<unknown>;
}

export interface RetryPollerOptions {
  /** How often to look for due rows, in ms (sooner while a full batch came back). @default 1000 */
  readonly pollInterval?: number;
  /** Rows claimed per poll (never more than free `concurrency` slots). @default 50 */
  readonly batchSize?: number;
  /** Delivery attempts in flight at once in this process. @default 50 */
  readonly concurrency?: number;
  /**
   * Shortest lease in ms: how long a claimed row is this worker's before another may take it over.
   * The lease is never shorter than the row's chain length × `providerTimeoutMs` + 5 s, so a slow
   * provider call cannot outlive it (a shorter lease would let a second worker send the same row
   * while the first call is still in flight). Longer leases only delay crash recovery.
   * @default chain length × providerTimeoutMs + 5000
   */
  readonly leaseMs?: number;
  /** How often this poller runs the retention purge (`otp.purge()`), in ms; `false` leaves it to you (a cron job). @default 600000 */
  readonly purgeInterval?: number | false;
  /** How often this poller claims the end of ended requests (lib/service/request-ends.ts), in ms; `false` never. @default 1000 */
  readonly endSweepInterval?: number | false;
  /** Where the poller logs claim and write failures. @default the kit's logger */
  readonly logger?: Logger;
}

export interface RetryPoller {
  /** Finishes in-flight sends, releases claimed rows it has not started, stops the timer. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULTS: { pollInterval: number; batchSize: number; concurrency: number; purgeInterval: number | false; endSweepInterval: number | false } = {
  pollInterval: 1000, batchSize: 50, concurrency: 50, purgeInterval: 600_000, endSweepInterval: 1000,
};

const schema = Joi.object<RetryPollerOptions>({
  pollInterval: Joi.number().integer().min(10).max(600_000),
  batchSize: Joi.number().integer().min(1).max(1000),
  concurrency: Joi.number().integer().min(1).max(1000),
  leaseMs: Joi.number().integer().min(1000).max(600_000),
  purgeInterval: Joi.alternatives(Joi.valid(false), Joi.number().integer().min(10).max(86_400_000)),
  endSweepInterval: Joi.alternatives(Joi.valid(false), Joi.number().integer().min(10).max(3_600_000)),
  logger: Joi.object({ warn: Joi.function().required(), error: Joi.function().required() }).unknown(true),
});

function resolvePollerOptions(options: RetryPollerOptions): Required<Omit<RetryPollerOptions, 'leaseMs' | 'logger'>> & Pick<RetryPollerOptions, 'leaseMs' | 'logger'> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw configError('startRetryPoller: options must be an object, e.g. otp.startRetryPoller({ pollInterval: 1000 })');
  }
  const { error } = schema.validate(options, { abortEarly: true, convert: false });
  if (error !== undefined) {
    const detail = error.details[0];
    const path = detail?.path.join('.') ?? '';
    if (detail?.type === 'object.unknown') {
      throw configError(`startRetryPoller: unknown option \`${path}\`; known options: pollInterval, batchSize, concurrency, leaseMs, purgeInterval, endSweepInterval, logger`);
    }
    const got: unknown = detail?.context?.value;
    throw configError(`startRetryPoller: option \`${path}\` ${(detail?.message ?? error.message).replace(/^"[^"]*" /, '')} (got ${typeof got === 'function' ? 'a function' : (JSON.stringify(got) ?? 'undefined')})`);
  }
  return { ...DEFAULTS, ...options };
}


export function startRetryPoller(deps: RetryPollerDeps, options: RetryPollerOptions = {}): RetryPoller {
  const opts = resolvePollerOptions(options);
  const { knex, tables, delivery } = deps;
  const { config, events } = delivery;
  const { clock } = config;
  const logger = opts.logger ?? config.logger;
  const minLeaseMs = opts.leaseMs ?? 0;
  const leaseFor = (chainLength: number): number => Math.max(minLeaseMs, leaseMsFor(config.providerTimeoutMs, Math.max(1, chainLength)));
  // `info` is optional in practice: only warn and error are checked for a custom logger.
  if (!config.retry && typeof logger.info === 'function') {
    logger.info({ instance: deps.instanceId }, 'otp retry poller: sms.retry is off, so it only takes over sends interrupted by a crash');
  }

  /** The lease a claim starts with: enough for the longest chain the current routing can produce. */
  async function claimLeaseMs(): Promise<number> {
    let longest = delivery.registry.names.length;
    try {
      const routing = await deps.routing();
      longest = routing.defaultChain.length + Math.max(0, ...routing.rules.map((r) => r.providers.length));
    } catch {
      // An unreadable routing row must not stop retries of rows that already carry their chain.
    }
    return leaseFor(longest);
  }

  /** A row that no longer needs a delivery (superseded by a newer request, or already verified): settle it, never send it. */
  async function settleDead(row: RequestRow, leaseToken: string): Promise<void> {
    // A workflow row whose earlier step was delivered keeps that delivery's status.
    const status = row.workflow !== undefined && row.workflow !== null && row.provider !== null ? 'sent' : 'expired';
    const ok = await delivery.store.finish(row.id, leaseToken, {
      status,
      sendAttempts: row.sendAttempts,
      nextAttemptAt: null,
      keepCipher: false,
      lastError: `not sent: the request was ${row.verifyStatus} before it could be delivered`,
      now: clock(),
    });
    if (ok && status === 'expired') events.emit('expired', { requestId: row.requestId, attempts: row.sendAttempts });
  }

  async function attempt(row: RequestRow, leaseToken: string, leasedMs: number): Promise<void> {
    try {
      const needed = leaseFor(row.chain.length);
      if (needed > leasedMs) {
        const now = clock();
        if (!(await extendLease(knex, tables, row.id, leaseToken, now + needed, now))) return;
      }
      if (row.verifyStatus !== 'pending') {
        await settleDead(row, leaseToken);
        return;
      }
      await deliver(delivery, row, leaseToken);
    } catch (error) {
      // Most likely the result write failed (database gone). The lease runs out and another
      // attempt follows with the same code: at-least-once, never lost.
      logger.error({ requestId: row.requestId, err: loggableError(error) }, 'otp retry poller: delivery attempt did not finish; the row is retried when its lease runs out');
    }
  }

  interface Claimed {
    readonly row: RequestRow;
    readonly leaseToken: string;
    readonly leasedMs: number;
    /** A retry (or take-over) of a delivery, or a workflow step that is due. */
    readonly kind?: 'step';
  }

  const stepCtx = deps.workflow === undefined ? undefined : { delivery, knex, tables, steps: deps.workflow, leaseFor };

  async function claim(limit: number): Promise<Claimed[]> {
    const leaseMs = await claimLeaseMs();
    const claimed = await claimDueRequests(knex, tables, { now: clock(), leaseMs, limit, owner: deps.instanceId });
    const items: Claimed[] = claimed.rows.map((row) => ({ row, leaseToken: claimed.leaseToken, leasedMs: leaseMs }));
    if (stepCtx !== undefined && items.length < limit) {
      const steps = await claimSteps(stepCtx, { now: clock(), leaseMs, limit: limit - items.length, owner: deps.instanceId });
      items.push(...steps.rows.map((row) => ({ row, leaseToken: steps.leaseToken, leasedMs: leaseMs, kind: 'step' as const })));
    }
    return items;
  }

  async function release(items: readonly Claimed[]): Promise<void> {
    const retries = items.filter((c) => c.kind !== 'step');
    const steps = items.filter((c) => c.kind === 'step');
    if (retries[0] !== undefined) await releaseClaims(knex, tables, retries.map((c) => c.row.id), retries[0].leaseToken, clock());
    if (steps[0] !== undefined && stepCtx !== undefined) await releaseStepClaims(stepCtx, steps.map((c) => c.row.id), steps[0].leaseToken);
  }

  async function runClaimed(c: Claimed): Promise<void> {
    if (c.kind !== 'step' || stepCtx === undefined) return attempt(c.row, c.leaseToken, c.leasedMs);
    try {
      await runStep(stepCtx, c.row, c.leaseToken);
    } catch (error) {
      logger.error({ requestId: c.row.requestId, err: loggableError(error) }, 'otp retry poller: a workflow step did not finish; it is taken up again when its lease runs out');
    }
  }

  const loop = startPollLoop<Claimed>({
    name: 'otp retry poller',
    pollInterval: opts.pollInterval,
    concurrency: opts.concurrency,
    logger,
    claim,
    release,
    run: runClaimed,
  });
  const purgeTimer = deps.purge !== undefined && opts.purgeInterval !== false ? startPurgeTimer(deps.purge, opts.purgeInterval, logger) : undefined;
  const endTimer =
    deps.endSweep !== undefined && opts.endSweepInterval !== false ? startPurgeTimer(deps.endSweep, opts.endSweepInterval, logger, 'otp end sweep: ending requests failed; it runs again at the next interval') : undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await endTimer?.stop();
      await purgeTimer?.stop();
      await loop.stop();
    })();
    return stopped;
  };
  return { stop, [Symbol.asyncDispose]: stop };
}
