/**
 * Where the routing comes from: forced (the `providers` option, then OTP_SMS_PROVIDER), else the
 * `otp_sms_provider` settings row, re-read at most every `settingsRefreshMs` so a change takes
 * effect without a restart. A malformed row fails `ready()`; a row that turns malformed later is
 * logged and the last good routing stays in force.
 */
import type { Knex } from 'knex';
import { parseRouting, RoutingParseError, type Routing } from '../core/routing.js';
import { configError } from '../errors.js';
import type { ResolvedOtpConfig } from '../options.js';
import { cachedSetting } from '../storage/settings.js';
import { loggableError } from '../core/safe-error.js';

export const ROUTING_SETTING_KEY = 'otp_sms_provider';

export interface RoutingSource {
  /** The routing in force (cached). */
  current(): Promise<Routing>;
  /** Validates and stores a new routing string in the settings row. */
  write(value: string): Promise<Routing>;
  /** Forces the next `current()` to read the row again. */
  invalidate(): void;
}

/**
 * `buildable` is asked before a new routing is written (setRouting): it throws when a named provider
 * cannot be built (missing credentials), so the row never names one.
 */
export function createRoutingSource(config: ResolvedOtpConfig, knex: Knex, known: readonly string[], buildable: (routing: Routing) => void = () => {}): RoutingSource {
  const parse = (value: string | readonly string[], from: string): Routing => {
    try {
      return parseRouting(value, known);
    } catch (error) {
      if (error instanceof RoutingParseError) throw configError(`routing from ${from} is not valid: ${error.message}`);
      throw error;
    }
  };

  const forced = config.forcedRouting === undefined ? undefined : parse(config.forcedRouting.value, config.forcedRouting.from);

  const fallback = (): Routing => {
    if (config.production) {
      throw configError(`no provider routing: set the "${ROUTING_SETTING_KEY}" row of ${config.tables.settings}, OTP_SMS_PROVIDER, or the \`providers\` option (e.g. "Twilio;Mada:+35987,+35988;Sinch")`);
    }
    return parse('Console', 'the development default');
  };

  // A malformed first read throws (ready() fails); a row that turns malformed later is logged.
  const stored = cachedSetting<Routing>({
    knex,
    tables: config.tables,
    key: ROUTING_SETTING_KEY,
    refreshMs: config.settingsRefreshMs,
    clock: config.clock,
    parse: (value) => (value === undefined || value.trim() === '' ? fallback() : parse(value, `the "${ROUTING_SETTING_KEY}" settings row`)),
    onIgnored: (error) => config.logger.error({ setting: ROUTING_SETTING_KEY, err: loggableError(error) }, 'ignoring an invalid routing setting; the previous routing stays in force'),
  });

  return {
    current: () => (forced === undefined ? stored.current() : Promise.resolve(forced)),
    async write(value) {
      const routing = parse(value, 'setRouting()');
      buildable(routing);
      await stored.write(routing.source);
      return routing;
    },
    invalidate: () => stored.invalidate(),
  };
}
