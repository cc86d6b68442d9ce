import type { ErrorRequestHandler, NextFunction, Request, Response } from 'express';
import { OtpError } from '../errors.js';
import { consoleLogger } from '../logger.js';
import type { Logger } from '../types.js';
import { bodyParserError, sendError } from './respond.js';

/**
 * Renders OtpErrors (and body-parser errors) thrown anywhere in the app as the contract's JSON;
 * other errors go on to the next error handler.
 */
export function otpErrorHandler(options: { logger?: Logger } = {}): ErrorRequestHandler {
  const logger = options.logger ?? consoleLogger;
  return function otpErrorHandlerMiddleware(error: unknown, _req: Request, res: Response, next: NextFunction) {
    if (res.headersSent) {
      next(error);
      return;
    }
    const otpError = error instanceof OtpError ? error : bodyParserError(error);
    if (otpError === undefined) {
      next(error);
      return;
    }
    if (otpError.status >= 500) logger.error({ code: otpError.code, err: otpError.message }, 'otp error');
    sendError(res, otpError);
  };
}
