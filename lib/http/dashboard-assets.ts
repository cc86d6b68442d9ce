/**
 * The dashboard page's static files (lib/http/public/dashboard/: dashboard.html, dashboard.js,
 * charts.js, dashboard.css), read once from the package. From the source tree they sit in
 * ./public/dashboard/ beside this file; in the built package tsup's `publicDir` copies them to
 * dist/dashboard/, beside dist/index.js. They hold no data: the page fetches everything as JSON.
 */
import { existsSync, readFileSync } from 'node:fs';
import { configError } from '../errors.js';

export interface DashboardAssets {
  readonly html: string;
  readonly js: string;
  readonly charts: string;
  readonly css: string;
}

/** Where the files may be, relative to this module (source tree, then the built package). */
const CANDIDATES = ['./public/dashboard/', './dashboard/'];

let cached: DashboardAssets | undefined;

export function dashboardAssets(): DashboardAssets {
  if (cached !== undefined) return cached;
  for (const candidate of CANDIDATES) {
    const dir = new URL(candidate, import.meta.url);
    if (!existsSync(new URL('dashboard.html', dir))) continue;
    const read = (name: string): string => readFileSync(new URL(name, dir), 'utf8');
    cached = { html: read('dashboard.html'), js: read('dashboard.js'), charts: read('charts.js'), css: read('dashboard.css') };
    return cached;
  }
  throw configError('otpInsightsRouter: the dashboard files (dashboard.html, dashboard.js, charts.js, dashboard.css) are missing from the package; reinstall express-otp-kit');
}

/**
 * The page's Content-Security-Policy: its own script and stylesheet, JSON from its own origin, no
 * inline code, no other host, no framing.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
