/**
 * `proxyCheck(logger)`: warns once when the app sits behind a proxy that Express does not trust.
 *
 * Without `trust proxy`, `req.ip` is the address of the proxy, so every client shares one address
 * and the per-IP limits (`sendsPerIp`, `verifiesPerIp`) count all of them together: a handful of
 * users lock everybody out. A request that carries `X-Forwarded-For` while the app's `trust proxy`
 * setting is off is the tell (express-rate-limit's ERR_ERL_UNEXPECTED_X_FORWARDED_FOR check). The
 * warning names the fix and is logged at most once per router; the request goes on unchanged. It
 * logs neither the header nor the address.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from '../types.js';

/** The stable code in the warning's log object. */
export const UNTRUSTED_PROXY_WARNING = 'OTP_UNTRUSTED_X_FORWARDED_FOR';

export const UNTRUSTED_PROXY_MESSAGE =
  "otp: a request carries X-Forwarded-For but Express's `trust proxy` setting is off, so req.ip is the proxy's " +
  'address and every client behind it shares the per-IP limits. Set `app.set(\'trust proxy\', …)` to the proxies ' +
  "you trust (a hop count such as 1, or 'loopback', or their addresses; the example app reads TRUST_PROXY). " +
  "If the app is not behind a proxy, a client sent the header itself and nothing needs to change.";

/** True when `req` came through a proxy that Express does not trust. */
export function untrustedForwardedFor(req: Request): boolean {
  return req.headers['x-forwarded-for'] !== undefined && req.app.get('trust proxy') === false;
}

export function proxyCheck(logger: Logger): RequestHandler {
  let warned = false;
  return function otpProxyCheck(req: Request, _res: Response, next: NextFunction) {
    if (!warned && untrustedForwardedFor(req)) {
      warned = true;
      logger.warn({ code: UNTRUSTED_PROXY_WARNING }, UNTRUSTED_PROXY_MESSAGE);
    }
    next();
  };
}
