/**
 * Monitor mode as webhooks: when the `webhooks` option names `otp.limit_monitored` (it is opt-in),
 * each would-be refusal (`limit-hit` or `send-refused` with `monitored: true`) is written to the
 * webhook outbox and delivered, signed, like every other event. There is no state change to commit
 * it with: the row is written after the request went through, and a failed write is logged.
 */
import type { Knex } from 'knex';
import { loggableError } from '../core/safe-error.js';
import type { OtpEventMap, OtpEvents } from '../events.js';
import type { ResolvedOtpConfig } from '../options.js';
import { insertOutbox } from '../storage/outbox-queries.js';
import { webhookEntry } from '../webhooks/payload.js';

type Facts = Record<string, string | number | null>;

function write(knex: Knex, config: ResolvedOtpConfig, extra: Facts, channel: string | null): void {
  const now = config.clock();
  insertOutbox(knex, config.tables, [webhookEntry('otp.limit_monitored', { channel, extra }, now, undefined)], now).catch((error: unknown) => {
    config.logger.error({ err: loggableError(error) }, 'otp fraud guard: writing an otp.limit_monitored webhook failed');
  });
}

function onLimitHit(knex: Knex, config: ResolvedOtpConfig, e: OtpEventMap['limit-hit']): void {
  if (e.monitored !== true) return;
  write(knex, config, { limit: e.limit, key: e.key, retryAfterSeconds: e.retryAfterSeconds, country: e.country ?? null, monitored: 'true' }, e.channel ?? null);
}

function onSendRefused(knex: Knex, config: ResolvedOtpConfig, e: OtpEventMap['send-refused']): void {
  if (e.monitored !== true) return;
  // The masked number as the event has it (the outbox never stores a full number).
  write(knex, config, { limit: 'destinations', reason: e.reason, key: e.phone, country: e.country ?? null, type: e.type ?? null, monitored: 'true' }, e.channel);
}

export function writeMonitoredWebhooks(knex: Knex, config: ResolvedOtpConfig, events: OtpEvents): void {
  if (config.webhooks === undefined || !config.webhooks.events.has('otp.limit_monitored')) return;
  events.on('limit-hit', (e) => onLimitHit(knex, config, e));
  events.on('send-refused', (e) => onSendRefused(knex, config, e));
}
