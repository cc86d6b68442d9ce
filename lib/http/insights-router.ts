/**
 * `otpInsightsRouter(otp, options)`: the operator dashboard. One static page (no build step, no
 * other host, strict Content-Security-Policy) and the JSON it draws:
 *
 *   GET /                 the page (dashboard.html; its scripts and stylesheet beside it)
 *   GET /insights         `otp.insights({ from, to, groupBy })` as JSON (lib/core/insights-report.ts);
 *                         query `from`, `to` (ISO dates), or `period` (24h, 7d, 30d, 90d), and
 *                         `groupBy` (comma list of country, channel, provider, purpose, step, day, hour);
 *                         bad input is a 400 VALIDATION_FAILED naming the field; a service without
 *                         `insights()` answers 501 NOT_CONFIGURED
 *   GET /holds            the current range holds and number locks (`otp.holds()`; [] without it)
 *   GET /provider-health  each provider's health as this process saw it (as `otpStatusRouter`)
 *
 * THE ROUTER DOES NO AUTHENTICATION. Mount it behind the app's own admin auth, e.g.
 * `app.use('/admin/otp', requireAdmin, otpInsightsRouter(otp), otpStatusRouter(otp))`. The page
 * and its files (dashboard.js, charts.js, dashboard.css) hold no data; every JSON answer does, and is `Cache-Control: no-store`. Like
 * the status view it never shows a full number, a code, an IP or a secret: the figures are counts,
 * holds show a number range or a masked number, and provider errors are scrubbed again.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Hold, InsightsQuery, InsightsReport } from '../core/insights-report.js';
import { maskPhone } from '../core/phone.js';
import { routedNames, type Routing } from '../core/routing.js';
import { configError, OtpError } from '../errors.js';
import type { OtpEvents } from '../events.js';
import { trackProviderHealth, type ProviderHealthTracker } from '../observability/provider-health.js';
import { safeText } from '../observability/safe-text.js';
import { silentLogger } from '../logger.js';
import type { Logger } from '../types.js';
import { forwardErrors } from './async-handler.js';
import { DASHBOARD_CSP, dashboardAssets } from './dashboard-assets.js';
import { parseInsightsQuery } from './insights-query.js';
import { renderError, sendError } from './respond.js';

/**
 * What the router needs: the service from `createOtp()` fits. Only `insights` serves figures; the
 * other members are used when present.
 */
export interface OtpInsightsSource {
  insights?(query: InsightsQuery): Promise<InsightsReport>;
  holds?(): Promise<readonly Hold[]>;
  /** The routing in force: lists routed providers in the health view even before their first call. */
  routing?(): Promise<Routing>;
  /** The kit's events: provider health is tracked from `sent` and `failed`. */
  readonly events?: OtpEvents;
  readonly config?: { readonly clock: () => number; readonly logger?: Logger };
}

export interface OtpInsightsRouterOptions {
  /** Longest range `/insights` answers, in days. @default 400 */
  readonly maxRangeDays?: number;
  /** Provider calls remembered per provider for `/provider-health`. @default 50 */
  readonly healthWindow?: number;
}

const KNOWN_OPTIONS = ['maxRangeDays', 'healthWindow'];

function checkOptions(options: OtpInsightsRouterOptions): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw configError('otpInsightsRouter: options must be an object, e.g. otpInsightsRouter(otp, { maxRangeDays: 400 })');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.includes(key)) throw configError(`otpInsightsRouter: unknown option \`${key}\`; known options: ${KNOWN_OPTIONS.join(', ')}`);
  }
  const whole = (name: string, value: unknown, max: number): void => {
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max)) {
      throw configError(`otpInsightsRouter: option \`${name}\` must be a whole number from 1 to ${max} (got ${JSON.stringify(value) ?? 'undefined'})`);
    }
  };
  whole('maxRangeDays', options.maxRangeDays, 3660);
  whole('healthWindow', options.healthWindow, 10_000);
}

/** A range held, or a number locked, as the page may show it: never a full number. */
function holdView(hold: Hold): Hold {
  const given: unknown = hold.target;
  const raw = typeof given === 'string' ? given : '';
  const target =
    hold.kind === 'range' && /^\+?[0-9]{1,10}$/.test(raw) ? raw : raw.includes('*') && !/[0-9]{6,}/.test(raw) ? raw : maskPhone(raw.replace(/[^+0-9]/g, ''));
  return {
    kind: hold.kind === 'range' ? 'range' : 'number',
    target,
    reason: safeText(typeof hold.reason === 'string' ? hold.reason : null, 80) ?? '',
    since: new Date(hold.since).toISOString(),
    until: new Date(hold.until).toISOString(),
  };
}

/** Redirects `/admin/otp` to `/admin/otp/` so that the page's relative URLs resolve under the mount path. */
function withTrailingSlash(req: Request, res: Response): boolean {
  const [raw = '', query] = req.originalUrl.split('?', 2);
  if (raw.endsWith('/')) return false;
  // One leading slash: `//host` would be a redirect to another host.
  const path = raw.replace(/^\/+/, '/');
  res.redirect(301, `${path}/${query === undefined ? '' : `?${query}`}`);
  return true;
}

function sendAsset(res: Response, type: string, body: string, csp: boolean): void {
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  if (csp) res.setHeader('Content-Security-Policy', DASHBOARD_CSP);
  res.type(type).send(body);
}

function healthTracker(source: OtpInsightsSource, windowSize: number): ProviderHealthTracker | undefined {
  const { events, config } = source;
  if (events === undefined || config === undefined || typeof config.clock !== 'function') return undefined;
  return trackProviderHealth({ events, config }, { windowSize });
}

export function otpInsightsRouter(source: OtpInsightsSource, options: OtpInsightsRouterOptions = {}): Router {
  if (typeof source !== 'object' || source === null) {
    throw new TypeError('otpInsightsRouter(otp, options): the first argument must be the service returned by createOtp() (or an object with insights())');
  }
  checkOptions(options);
  const maxRangeDays = options.maxRangeDays ?? 400;
  const clock = source.config?.clock ?? Date.now;
  const logger: Logger | undefined = source.config?.logger;
  const health = healthTracker(source, options.healthWindow ?? 50);
  const assets = dashboardAssets();
  const router = express.Router();

  router.get('/', function otpDashboardPage(req: Request, res: Response) {
    if (withTrailingSlash(req, res)) return;
    sendAsset(res, 'html', assets.html, true);
  });
  router.get('/dashboard.js', function otpDashboardScript(_req: Request, res: Response) {
    sendAsset(res, 'js', assets.js, false);
  });
  router.get('/charts.js', function otpDashboardCharts(_req: Request, res: Response) {
    sendAsset(res, 'js', assets.charts, false);
  });
  router.get('/dashboard.css', function otpDashboardStyles(_req: Request, res: Response) {
    sendAsset(res, 'css', assets.css, false);
  });

  async function otpInsights(req: Request, res: Response): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    const query = parseInsightsQuery(req.query, clock(), maxRangeDays);
    if (typeof source.insights !== 'function') {
      throw new OtpError('NOT_CONFIGURED', 'This service has no insights(): upgrade express-otp-kit or pass an object with insights() to otpInsightsRouter.');
    }
    const report = await source.insights({ from: query.from, to: query.to, groupBy: query.groupBy });
    res.json(report);
  }
  router.get('/insights', forwardErrors(otpInsights));

  async function otpHolds(_req: Request, res: Response): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    const holds = typeof source.holds === 'function' ? await source.holds() : [];
    res.json(holds.map(holdView));
  }
  router.get('/holds', forwardErrors(otpHolds));

  async function otpProviderHealth(_req: Request, res: Response): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    let names: string[] = [];
    let routingError: string | undefined;
    if (typeof source.routing === 'function') {
      try {
        names = routedNames(await source.routing());
      } catch (error) {
        // A routing problem is what an operator comes here to see: report it instead of failing.
        routingError = safeText(error instanceof Error ? error.message : String(error), 300) ?? 'unknown error';
      }
    }
    res.json({
      generatedAt: new Date(clock()).toISOString(),
      ...(routingError === undefined ? {} : { routingError }),
      /** Health is what this process saw since `trackingSince`; other instances keep their own. */
      trackingSince: health === undefined ? null : new Date(health.since).toISOString(),
      windowSize: health?.windowSize ?? null,
      providers: health === undefined ? [] : health.snapshot(names),
    });
  }
  router.get('/provider-health', forwardErrors(otpProviderHealth));

  router.use(function otpInsightsErrors(error: unknown, _req: Request, res: Response, next: NextFunction) {
    if (res.headersSent) {
      next(error);
      return;
    }
    // A service without insights() is a state of the deployment, not a failure: no error log line.
    if (error instanceof OtpError && error.code === 'NOT_CONFIGURED') sendError(res, error);
    else renderError(res, error, logger ?? silentLogger);
  });
  return router;
}
