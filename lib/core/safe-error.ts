/**
 * What the kit may log about an error it did not expect. Database drivers put the statement in the
 * message, and Knex prefixes every failed query's message with the SQL *with its bound values filled
 * in* (`insert into otp_requests (...) values ('+359871234567', '203.0.113.7', …) - Data too long
 * …`); MariaDB's `sqlMessage` and PostgreSQL's `detail` quote values too (`Duplicate entry
 * '+359…'`, `Key (phone)=(+359…)`). Logging `error.message` would write unmasked numbers, client
 * IPs, lease tokens, digests and sealed codes to the log (audit item 19.3).
 *
 * `safeErrorSummary(error)` keeps what identifies the failure and nothing that can carry a value:
 * the error's class name, the driver's `code`, `errno` and `sqlState`, the statement's first keyword
 * and table (`insert otp_requests`), schema names PostgreSQL reports (`table`, `column`,
 * `constraint`), and the driver's own reason with every quoted literal, digit run, address and
 * token removed. A non-database error keeps its message the same way, scrubbed. Pure.
 */

/** A redacted, loggable description of an error. */
export interface SafeErrorSummary {
  /** The error's class name (`Error`, `KnexTimeoutError`, `SqliteError`, `OtpError`). */
  readonly name: string;
  /** Driver or system code: `ER_DATA_TOO_LONG`, `22001`, `SQLITE_ERROR`, `ECONNREFUSED`. */
  readonly code?: string;
  /** MariaDB/MySQL error number (1406) or a system errno. */
  readonly errno?: number;
  /** SQLSTATE (MariaDB/MySQL `sqlState`; PostgreSQL's `code` is one too). */
  readonly sqlState?: string;
  /** The failed statement's first keyword and, when plain, its table: `insert otp_requests`. */
  readonly statement?: string;
  /** Schema names PostgreSQL attaches to the error (never values). */
  readonly table?: string;
  readonly column?: string;
  readonly constraint?: string;
  /** The driver's reason or the error's message, with literals, numbers, addresses and tokens removed. */
  readonly reason?: string;
  /** The cause, summarised the same way (one level). */
  readonly cause?: SafeErrorSummary;
}

interface ErrorFields {
  readonly name?: unknown;
  readonly message?: unknown;
  readonly code?: unknown;
  readonly errno?: unknown;
  readonly sqlState?: unknown;
  readonly sqlMessage?: unknown;
  readonly sql?: unknown;
  readonly severity?: unknown;
  readonly table?: unknown;
  readonly column?: unknown;
  readonly constraint?: unknown;
  readonly cause?: unknown;
}

const SQL_KEYWORD = /^\s*\(?\s*(select|insert|update|delete|with|create|alter|drop|truncate|replace|merge|begin|commit|rollback|savepoint|release|pragma|set|show|lock|explain)\b/i;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,63}$/;
const SAFE_CODE = /^[A-Z0-9_]{1,64}$/;
const SQL_STATE = /^[0-9A-Z]{5}$/;
const MAX_REASON = 160;

function identifier(value: unknown): string | undefined {
  return typeof value === 'string' && IDENTIFIER.test(value) ? value : undefined;
}

/** The first keyword of an SQL text and the table it names, when that is a plain identifier. */
export function statementName(sql: string): string | undefined {
  const keyword = SQL_KEYWORD.exec(sql)?.[1]?.toLowerCase();
  if (keyword === undefined) return undefined;
  const rest = sql.slice(sql.toLowerCase().indexOf(keyword) + keyword.length);
  const pattern =
    keyword === 'insert' || keyword === 'replace' ? /^\s+(?:ignore\s+)?into\s+[`"[]?([A-Za-z_][A-Za-z0-9_$]*)/i
      : keyword === 'update' ? /^\s+[`"[]?([A-Za-z_][A-Za-z0-9_$]*)/i
        : keyword === 'delete' || keyword === 'select' ? /^[\s\S]*?\bfrom\s+[`"[]?([A-Za-z_][A-Za-z0-9_$]*)/i
          : undefined;
  const table = pattern === undefined ? undefined : identifier(pattern.exec(rest.slice(0, 2000))?.[1]);
  return table === undefined ? keyword : `${keyword} ${table}`;
}

/**
 * A quoted literal stays when it reads as a name (a module, a path, a column, an option: letters,
 * `_ @ . / : -` and short digit runs, no spaces), so `Cannot find module 'better-sqlite3'` stays
 * readable; anything else (a value: a number, an address, a token, free text) becomes `?`.
 */
function keepNameLiteral(_all: string, before: string, inner: string): string {
  const tokenLike = (inner.match(/[A-Za-z0-9+_-]{16,}/g) ?? []).some((run) => /[0-9]/.test(run));
  const name = /^[A-Za-z_@./][A-Za-z0-9_@./:-]{0,199}$/.test(inner) && !/[0-9]{3,}/.test(inner) && !tokenLike;
  return `${before}${name ? `'${inner}'` : '?'}`;
}

/** A long run of token characters: masked when it carries digits, except path segments (`/`) that read as words. */
function maskTokenRun(run: string): string {
  if (!/[0-9]/.test(run)) return run;
  if (!run.includes('/')) return '[token]';
  return run
    .split('/')
    .map((segment) => (segment.length >= 16 && /[0-9]/.test(segment) && (/^[0-9a-f]+$/i.test(segment) || !/^[a-z0-9._@-]+$/.test(segment)) ? '[token]' : segment))
    .join('/');
}

/**
 * Free text with everything that could be a value removed: quoted literals that are not names,
 * `(…)=(…)` key details, IP addresses, hex and base64 tokens, digit runs of 3 or more, `+number`s;
 * control characters collapsed; truncated. Words, names and file paths stay readable.
 */
export function scrubText(text: string, maxLength = MAX_REASON): string {
  const scrubbed = text
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    // A quote after a letter or digit is an apostrophe (it's), not the start of a literal.
    .replace(/(^|[^A-Za-z0-9])'((?:[^'\\]|\\.|'')*)(?:'|$)/g, keepNameLiteral)
    .replace(/(^|[^A-Za-z0-9])"((?:[^"\\]|\\.)*)(?:"|$)/g, keepNameLiteral)
    .replace(/`([^`]*)`?/g, (_all: string, inner: string) => keepNameLiteral('', '', inner))
    .replace(/=\([^)]*\)/g, '=(?)')
    .replace(/\b(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}\b/gi, '[address]')
    .replace(/\b[0-9]{1,3}(?:\.[0-9]{1,3}){3}\b/g, '[address]')
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '[id]')
    .replace(/[A-Za-z0-9+/_-]{20,}={0,2}/g, maskTokenRun)
    .replace(/\+?[0-9][0-9 ()-]{2,}[0-9]|[0-9]{3,}/g, '[n]')
    .replace(/\s+/g, ' ')
    .trim();
  return scrubbed.length > maxLength ? `${scrubbed.slice(0, maxLength - 1)}…` : scrubbed;
}

/** True when the error came from a database driver or from Knex running a statement. */
function isDatabaseError(fields: ErrorFields, message: string): boolean {
  return (
    typeof fields.sqlState === 'string' ||
    typeof fields.sqlMessage === 'string' ||
    typeof fields.sql === 'string' ||
    (typeof fields.severity === 'string' && typeof fields.code === 'string') ||
    (typeof fields.code === 'string' && fields.code.startsWith('SQLITE')) ||
    SQL_KEYWORD.test(message)
  );
}

/** The driver's own words: MariaDB's sqlMessage, else the part after Knex's "<sql> - " prefix. */
function driverReason(fields: ErrorFields, message: string): string {
  if (typeof fields.sqlMessage === 'string') return fields.sqlMessage;
  if (!SQL_KEYWORD.test(message)) return message;
  const cut = message.lastIndexOf(' - ');
  return cut === -1 ? '' : message.slice(cut + 3);
}

function summarise(error: unknown, depth: number): SafeErrorSummary {
  if (typeof error !== 'object' || error === null) {
    return { name: typeof error, ...(typeof error === 'string' ? { reason: scrubText(error) } : {}) };
  }
  const fields = error as ErrorFields;
  const name = identifier(fields.name) ?? identifier(error.constructor.name) ?? 'Error';
  const message = typeof fields.message === 'string' ? fields.message : '';
  const database = isDatabaseError(fields, message);
  const code = typeof fields.code === 'string' && SAFE_CODE.test(fields.code) ? fields.code : undefined;
  const sqlState = typeof fields.sqlState === 'string' && SQL_STATE.test(fields.sqlState) ? fields.sqlState
    : typeof fields.severity === 'string' && code !== undefined && SQL_STATE.test(code) ? code : undefined;
  const statement = statementName(typeof fields.sql === 'string' ? fields.sql : message);
  const reason = scrubText(database ? driverReason(fields, message) : message);
  const table = identifier(fields.table);
  const column = identifier(fields.column);
  const constraint = identifier(fields.constraint);
  return {
    name,
    ...(code === undefined ? {} : { code }),
    ...(typeof fields.errno === 'number' && Number.isInteger(fields.errno) ? { errno: fields.errno } : {}),
    ...(sqlState === undefined ? {} : { sqlState }),
    ...(statement === undefined ? {} : { statement }),
    ...(table === undefined ? {} : { table }),
    ...(column === undefined ? {} : { column }),
    ...(constraint === undefined ? {} : { constraint }),
    ...(reason === '' ? {} : { reason }),
    ...(depth < 1 && fields.cause !== undefined ? { cause: summarise(fields.cause, depth + 1) } : {}),
  };
}

/**
 * A loggable summary of any thrown value: driver code, errno, SQLSTATE and statement name, never the
 * SQL text or its bound values. Log it as `{ err: safeErrorSummary(error) }` wherever an unknown
 * error is logged.
 */
export function safeErrorSummary(error: unknown): SafeErrorSummary {
  return summarise(error, 0);
}

/**
 * What a log line may carry for `error`: the kit's own OtpError messages as they are (its texts
 * name options and fixes, never values), anything else as `safeErrorSummary`.
 */
export function loggableError(error: unknown): SafeErrorSummary | string {
  if (error instanceof Error && error.name === 'OtpError') return error.message;
  return safeErrorSummary(error);
}
