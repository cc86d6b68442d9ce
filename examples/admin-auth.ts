/**
 * `requireAdminToken(token)`: the example app's guard in front of the operator views at /admin/otp
 * (`otpInsightsRouter` and `otpStatusRouter` do no authentication of their own). Every request
 * needs `Authorization: Bearer <token>` (compared in constant time) or gets 401, except the
 * dashboard's own static files (the page, its two scripts and its stylesheet: the same bytes for
 * everyone, shipped in the npm package, holding no data), so that a browser can open the page; the
 * page then asks for the token once, keeps it in sessionStorage for the tab and sends it with every
 * JSON request. An app with its own session cookies guards everything instead.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/** The dashboard files a browser loads before it has the token (paths under the mount point). */
const DASHBOARD_FILES = ['/', '/dashboard.js', '/charts.js', '/dashboard.css'];

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

export function requireAdminToken(token: string): RequestHandler {
  if (token.length < 16) throw new Error('requireAdminToken: the admin token must be at least 16 characters (OTP_ADMIN_TOKEN)');
  const expected = digest(token);
  return function requireAdminTokenGuard(req: Request, res: Response, next: NextFunction): void {
    if ((req.method === 'GET' || req.method === 'HEAD') && DASHBOARD_FILES.includes(req.path)) {
      next();
      return;
    }
    const given = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1] ?? '';
    // Compare digests so that the comparison takes the same time whatever the given token's length.
    if (given !== '' && timingSafeEqual(digest(given), expected)) {
      next();
      return;
    }
    res.setHeader('WWW-Authenticate', 'Bearer realm="otp-admin"');
    res.setHeader('Cache-Control', 'no-store');
    res.status(401).json({ error: { code: 'ADMIN_TOKEN_REQUIRED', message: 'Send the admin token: Authorization: Bearer <OTP_ADMIN_TOKEN>.' } });
  };
}
