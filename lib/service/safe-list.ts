/**
 * Where the safe list comes from: the `safeList` option and the `otp_safe_list` settings row (JSON
 * of the same shape), re-read like the routing row (lib/storage/settings.ts), so a change takes
 * effect on every instance within `settingsRefreshSeconds` and without a restart. Each use is a
 * `safe-listed` event (counted by otpMetrics). No HTTP route reads or writes it: only the app's
 * own code (`otp.setSafeList()`) and whoever can write the settings table.
 */
import type { Knex } from 'knex';
import { matchSafeList, mergeSafeLists, parseSafeList, safeListValidationError, SAFE_LIST_SETTING_KEY, EMPTY_SAFE_LIST, type SafeList, type SafeListInput, type SafeMatch } from '../core/safe-list.js';
import { configError } from '../errors.js';
import type { OtpEvents } from '../events.js';
import type { ResolvedOtpConfig } from '../options.js';
import { cachedSetting } from '../storage/settings.js';
import { loggableError } from '../core/safe-error.js';

export interface SafeListSource {
  /** Whether a send or verify of `e164` from `ip` is safe-listed. */
  match(e164: string, ip: string | undefined): Promise<SafeMatch | undefined>;
  /** Counts one use of the safe list (the `safe-listed` event, which otpMetrics counts). */
  used(match: SafeMatch, use: 'send' | 'verify'): void;
  /** Validates the list (OtpError VALIDATION_FAILED naming the bad entry), then replaces the settings row. */
  write(list: SafeListInput): Promise<void>;
}

export function createSafeListSource(config: ResolvedOtpConfig, knex: Knex, events: OtpEvents): SafeListSource {
  const fixed = config.fraudGuard.safeList;
  const stored = cachedSetting<SafeList>({
    knex,
    tables: config.tables,
    key: SAFE_LIST_SETTING_KEY,
    refreshMs: config.settingsRefreshMs,
    clock: config.clock,
    initial: EMPTY_SAFE_LIST,
    parse: (raw) => (raw === undefined || raw.trim() === '' ? EMPTY_SAFE_LIST : parseSafeList(JSON.parse(raw) as unknown, `the "${SAFE_LIST_SETTING_KEY}" settings row`, (message) => configError(message))),
    onIgnored: (error) => config.logger.error({ setting: SAFE_LIST_SETTING_KEY, err: loggableError(error) }, 'ignoring an invalid safe-list setting (the last good list stays in force)'),
  });

  return {
    async match(e164, ip) {
      return matchSafeList(mergeSafeLists(fixed, await stored.current()), e164, ip);
    },
    used(match, use) {
      events.emit('safe-listed', { kind: match.kind, use, bypassPolicy: match.bypassPolicy });
    },
    async write(list) {
      const parsed = parseSafeList(list, 'setSafeList()', safeListValidationError);
      await stored.write(JSON.stringify(parsed.stored));
    },
  };
}
