/**
 * `requireVerifiedOtp(otp, { purpose })`: lets a request through only with a valid verification
 * token from POST /verify (Authorization: Bearer <token> or X-OTP-Token), single-use by default.
 * Fails closed: when the token store cannot be reached the answer is a logged JSON 500 and the
 * guarded handler never runs (no stack trace reaches the client).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { OtpError } from '../errors.js';
import type { Otp } from '../service/otp.js';
import { renderError, sendError } from './respond.js';

export interface RequireVerifiedOtpOptions {
  /** The purpose the token must have been issued for (the `purpose` sent with /sms or /call). */
  readonly purpose?: string;
  /** Refuse a second use of the same token (401 OTP_TOKEN_USED), across processes. @default true */
  readonly singleUse?: boolean;
}

function tokenFrom(req: Request): string | undefined {
  const auth = req.get('authorization');
  if (auth !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (match?.[1] !== undefined) return match[1];
  }
  const header = req.get('x-otp-token');
  return header === undefined || header.trim() === '' ? undefined : header.trim();
}

export function requireVerifiedOtp(otp: Otp, options: RequireVerifiedOtpOptions = {}): RequestHandler {
  const given: unknown = otp;
  if (typeof given !== 'object' || typeof (given as Partial<Otp> | null)?.checkToken !== 'function') {
    throw new TypeError('requireVerifiedOtp(otp, options): the first argument must be the service returned by createOtp()');
  }
  const checkOptions = { ...(options.purpose === undefined ? {} : { purpose: options.purpose }), singleUse: options.singleUse ?? true };
  return function requireVerifiedOtpMiddleware(req: Request, res: Response, next: NextFunction) {
    const token = tokenFrom(req);
    if (token === undefined) {
      sendError(res, new OtpError('OTP_REQUIRED'));
      return;
    }
    otp.checkToken(token, checkOptions).then(
      (verified) => {
        req.otp = verified;
        next();
      },
      (error: unknown) => {
        renderError(res, error, otp.config.logger);
      },
    );
  };
}
