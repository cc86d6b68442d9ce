/** What the CLI talks to: the environment and two output streams (injected by tests). */
import { credentialFreeUrl } from '../core/url-redact.js';
import type { Env } from '../env.js';
import type { Logger } from '../types.js';

export interface CliIo {
  /** Read as createOtp() reads process.env: DATABASE_URL, OTP_SECRET, OTP_SMS_PROVIDER… */
  readonly env: Env;
  /** One line of the command's result (stdout). */
  readonly out: (line: string) => void;
  /** One line of diagnostics: warnings, errors (stderr). */
  readonly err: (line: string) => void;
}

/** Exit codes, as --help lists them. */
export const EXIT = {
  ok: 0,
  /** The command failed: configuration, a refused value, the database. */
  failed: 1,
  /** Unknown command or option, missing argument. */
  usage: 2,
  /** `status`: migrations are pending or the service would not start. */
  notReady: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The kit's warnings and errors during a command go to stderr, keeping stdout for results. */
export function cliLogger(io: CliIo): Logger {
  const line = (level: string, obj: object | string, msg?: string): string =>
    typeof obj === 'string' ? `[otp] ${level}: ${obj}` : `[otp] ${level}: ${msg ?? ''} ${JSON.stringify(obj)}`.trimEnd();
  return {
    debug() {},
    info() {},
    warn: (obj, msg) => io.err(line('warn', obj, msg)),
    error: (obj, msg) => io.err(line('error', obj, msg)),
  };
}

/** A database URL without its credentials (userinfo, query parameters), for output. */
export function redactedUrl(url: string): string {
  return credentialFreeUrl(url);
}
