/**
 * `otpStatusRouter(otp, options)`: a read-only JSON view of the kit for operators.
 *
 *   GET /requests     the newest requests (masked numbers), `?limit=` and `?status=` narrow it
 *   GET /retry-queue  rows per delivery status, the pending rows that come due first, the oldest due age
 *   GET /providers    the routing in force, each provider's channels (sms, call, whatsapp) and the
 *                     channel fallback, and each provider's health as this process saw it
 *
 * THE ROUTER DOES NO AUTHENTICATION. Mount it behind the app's own admin auth, e.g.
 * `app.use('/admin/otp', requireAdmin, otpStatusRouter(otp))`. It never shows a full number, a
 * code, a code digest or sealed code, a client IP or a provider's raw request/response; error text
 * is the kit's redacted copy, scrubbed of digit runs again and truncated. Every answer is
 * `Cache-Control: no-store`.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { maskPhone } from '../core/phone.js';
import { routedNames } from '../core/routing.js';
import { configError, OtpError } from '../errors.js';
import { trackProviderHealth } from '../observability/provider-health.js';
import { isoOrNull, safeText } from '../observability/safe-text.js';
import { maybeInternalsOf } from '../service/internals.js';
import type { Otp } from '../service/otp.js';
import { countRequestsByStatus, nextDueRequests, oldestDueAt, recentRequests, type RequestStatusRow } from '../storage/status-queries.js';
import type { DeliveryStatus } from '../types.js';
import { forwardErrors } from './async-handler.js';
import { renderError } from './respond.js';

export interface OtpStatusRouterOptions {
  /** Most rows `/requests` and `/retry-queue` return; `?limit=` may ask for fewer. @default 50 */
  readonly limit?: number;
  /** Provider calls remembered per provider for `/providers`. @default 50 */
  readonly healthWindow?: number;
}

const STATUSES: readonly DeliveryStatus[] = ['sending', 'queued', 'sent', 'failed', 'unsendable', 'expired'];
const KNOWN_OPTIONS = ['limit', 'healthWindow'];

function checkInteger(name: string, value: unknown, min: number, max: number): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)) {
    throw configError(`otpStatusRouter: option \`${name}\` must be a whole number from ${min} to ${max} (got ${JSON.stringify(value) ?? 'undefined'})`);
  }
}

/** A single query parameter as a string, or a 400 naming it. */
function queryParam(req: Request, name: string): string | undefined {
  const value: unknown = (req.query as Record<string, unknown>)[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new OtpError('VALIDATION_FAILED', `"${name}" must be given once`, { field: name });
  return value;
}

function limitOf(req: Request, max: number): number {
  const raw = queryParam(req, 'limit');
  if (raw === undefined) return max;
  const n = /^[0-9]{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > max) throw new OtpError('VALIDATION_FAILED', `"limit" must be a whole number from 1 to ${max}`, { field: 'limit' });
  return n;
}

function statusOf(req: Request): DeliveryStatus | undefined {
  const raw = queryParam(req, 'status');
  if (raw === undefined) return undefined;
  if (!(STATUSES as readonly string[]).includes(raw)) throw new OtpError('VALIDATION_FAILED', `"status" must be one of ${STATUSES.join(', ')}`, { field: 'status' });
  return raw as DeliveryStatus;
}

/** A request row as the status views show it: masked number, ISO times, scrubbed error, nothing secret. */
function requestView(row: RequestStatusRow) {
  return {
    requestId: row.requestId,
    phone: maskPhone(row.phone),
    channel: row.channel,
    purpose: row.purpose,
    chain: row.chain,
    provider: row.provider,
    status: row.status,
    verifyStatus: row.verifyStatus,
    attempts: row.attempts,
    sendAttempts: row.sendAttempts,
    createdAt: new Date(row.createdAt).toISOString(),
    expiresAt: new Date(row.expiresAt).toISOString(),
    nextAttemptAt: isoOrNull(row.nextAttemptAt),
    verifiedAt: isoOrNull(row.verifiedAt),
    lastError: safeText(row.lastError),
  };
}

export type OtpStatusRequestView = ReturnType<typeof requestView>;

/** The channels each routed provider serves (a provider that cannot be built shows none). */
function providerChannels(otp: Otp, names: readonly string[]): Record<string, readonly string[]> {
  const registry = maybeInternalsOf(otp)?.registry;
  const channelsOf = (name: string): readonly string[] => {
    try {
      return registry?.get(name).channels ?? [];
    } catch {
      return [];
    }
  };
  return Object.fromEntries(names.map((name) => [name, channelsOf(name)]));
}

export function otpStatusRouter(otp: Otp, options: OtpStatusRouterOptions = {}): Router {
  if (typeof otp !== 'object' || typeof (otp as Partial<Otp> | null)?.routing !== 'function' || typeof (otp as Partial<Otp>).knex !== 'function') {
    throw new TypeError('otpStatusRouter(otp, options): the first argument must be the service returned by createOtp()');
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw configError('otpStatusRouter: options must be an object, e.g. otpStatusRouter(otp, { limit: 50 })');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.includes(key)) throw configError(`otpStatusRouter: unknown option \`${key}\`; known options: ${KNOWN_OPTIONS.join(', ')}`);
  }
  checkInteger('limit', options.limit, 1, 1000);
  checkInteger('healthWindow', options.healthWindow, 1, 10_000);
  const max = options.limit ?? 50;
  const { knex, config } = otp;
  const { tables, clock, logger } = config;
  const health = trackProviderHealth(otp, { windowSize: options.healthWindow ?? 50 });
  const router = express.Router();

  router.use(function otpStatusNoStore(_req: Request, res: Response, next: NextFunction) {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  router.get('/', function otpStatusIndex(_req: Request, res: Response) {
    res.json({ endpoints: ['requests', 'retry-queue', 'providers'] });
  });

  async function otpStatusRequests(req: Request, res: Response): Promise<void> {
    const limit = limitOf(req, max);
    const status = statusOf(req);
    const rows = await recentRequests(knex, tables, { limit, ...(status === undefined ? {} : { status }) });
    res.json({ generatedAt: new Date(clock()).toISOString(), limit, ...(status === undefined ? {} : { status }), requests: rows.map(requestView) });
  }
  router.get('/requests', forwardErrors(otpStatusRequests));

  async function otpStatusRetryQueue(req: Request, res: Response): Promise<void> {
    const limit = limitOf(req, max);
    const now = clock();
    const [counts, next, oldest] = await Promise.all([countRequestsByStatus(knex, tables), nextDueRequests(knex, tables, limit), oldestDueAt(knex, tables, now)]);
    res.json({
      generatedAt: new Date(now).toISOString(),
      retryEnabled: config.retry,
      maxRetries: config.maxRetries,
      counts,
      /** Rows waiting for a retry, plus rows under a delivery attempt right now. */
      pending: counts.queued + counts.sending,
      oldestDueAt: isoOrNull(oldest),
      /** How long the oldest row a poller could take now has been due; a growing value means no poller is keeping up. */
      oldestDueAgeSeconds: oldest === null ? null : Math.max(0, Math.round((now - oldest) / 1000)),
      next: next.map((row) => ({
        requestId: row.requestId,
        phone: maskPhone(row.phone),
        channel: row.channel,
        chain: row.chain,
        status: row.status,
        sendAttempts: row.sendAttempts,
        nextAttemptAt: isoOrNull(row.nextAttemptAt),
        due: row.nextAttemptAt !== null && row.nextAttemptAt <= now,
        leased: row.leaseExpiresAt !== null && row.leaseExpiresAt > now,
        expiresAt: new Date(row.expiresAt).toISOString(),
        lastError: safeText(row.lastError),
      })),
    });
  }
  router.get('/retry-queue', forwardErrors(otpStatusRetryQueue));

  async function otpStatusProviders(_req: Request, res: Response): Promise<void> {
    let routing: string | null = null;
    let routingError: string | undefined;
    let names: string[] = [];
    try {
      const current = await otp.routing();
      routing = current.source;
      names = routedNames(current);
    } catch (error) {
      // A routing problem is what an operator comes here to see: report it instead of failing.
      routingError = safeText(error instanceof Error ? error.message : String(error), 500) ?? 'unknown error';
    }
    res.json({
      generatedAt: new Date(clock()).toISOString(),
      routing,
      ...(routingError === undefined ? {} : { routingError }),
      /** Health is what this process saw since `trackingSince`; other instances keep their own. */
      trackingSince: new Date(health.since).toISOString(),
      windowSize: health.windowSize,
      channels: providerChannels(otp, names),
      channelFallback: config.channelFallback,
      providers: health.snapshot(names),
    });
  }
  router.get('/providers', forwardErrors(otpStatusProviders));

  router.use(function otpStatusErrors(error: unknown, _req: Request, res: Response, next: NextFunction) {
    if (res.headersSent) {
      next(error);
      return;
    }
    renderError(res, error, logger);
  });
  return router;
}
