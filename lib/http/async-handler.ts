/**
 * Express 4 never looks at the promise a handler returns, so a rejected async handler leaves the
 * request hanging (Express 5 forwards it to next()). Every async handler of the kit goes through
 * `forwardErrors`, so on both majors its errors reach the router's error handler.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';

export type AsyncRequestHandler = (req: Request, res: Response, next: NextFunction) => Promise<void>;

export function forwardErrors(handler: AsyncRequestHandler): RequestHandler {
  const wrapped = function forwardErrorsToNext(req: Request, res: Response, next: NextFunction): void {
    handler(req, res, next).catch(next);
  };
  // Keep the handler's own name in stack traces and router introspection.
  Object.defineProperty(wrapped, 'name', { value: handler.name });
  return wrapped;
}
