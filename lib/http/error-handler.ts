import type { ErrorRequestHandler, NextFunction, Request, Response } from 'express';
import { OtpError } from '../errors.js';
import { consoleLogger } from '../logger.js';
import type { Logger } from '../types.js';
import { bodyParserError, otpErrorLogFields, sendError, type RespondOptions } from './respond.js';

export interface OtpErrorHandlerOptions extends RespondOptions {
  /** Where 5xx OtpErrors are logged (redacted). @default the console logger */
  readonly logger?: Logger;
}

/**
 * Renders OtpErrors (and body-parser errors) thrown anywhere in the app as the contract's JSON;
 * other errors go on to the next error handler.
 */
export function otpErrorHandler(options: Readonly<OtpErrorHandlerOptions> = {}): ErrorRequestHandler {
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
    if (otpError.status >= 500) logger.error(otpErrorLogFields(otpError), 'otp error');
    sendError(res, otpError, options);
  };
}
