import type { Logger } from './types.js';

function line(level: string, obj: object | string, msg?: string): string {
  if (typeof obj === 'string') return `[otp] ${level}: ${obj}`;
  return `[otp] ${level}: ${msg ?? ''} ${JSON.stringify(obj)}`.trimEnd();
}

/** The default logger: warnings and errors to stderr, quiet otherwise. Pass a pino logger to get more. */
export const consoleLogger: Logger = {
  debug() {},
  info() {},
  warn: (obj, msg) => console.warn(line('warn', obj, msg)),
  error: (obj, msg) => console.error(line('error', obj, msg)),
};

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
