/**
 * Locks as webhooks: a number locked by wrong codes (`otp.number_locked`) or a number range held
 * by the pumping breaker (`otp.range_held`) is written to the webhook outbox in the same
 * transaction as the lock itself, so the event is never lost and never reported for a lock that
 * did not commit. Without webhooks (or not subscribed) the lock runs as one statement, as before.
 */
import type { Knex } from 'knex';
import type { ResolvedWebhooks, WebhookEventType } from '../core/webhook-options.js';
import { createCounterStore, type Counter } from '../storage/counter-store.js';
import type { OtpTableNames } from '../storage/migrations.js';
import { withOutbox } from '../storage/outbox-queries.js';
import { webhookEntry, type EventFacts } from '../webhooks/payload.js';

export interface LockEventSettings {
  readonly tables: OtpTableNames;
  readonly webhooks: ResolvedWebhooks | undefined;
  readonly clock: () => number;
}

/** Runs `work` (a lock) and, when it locked (`facts` answers), writes its webhook with it. */
export async function withLockEvent<T>(knex: Knex, settings: LockEventSettings, type: WebhookEventType, work: (db: Knex) => Promise<T>, facts: (result: T) => EventFacts | undefined): Promise<T> {
  const { webhooks, tables } = settings;
  if (webhooks === undefined || !webhooks.events.has(type)) return work(knex);
  const now = settings.clock();
  return withOutbox(knex, tables, work, (result) => {
    const f = facts(result);
    return f === undefined ? [] : [webhookEntry(type, f, now, webhooks.subjectKeys[0])];
  }, now);
}

/** A counter's `block` on the given connection (a transaction's), so a lock and its event commit together. */
export async function blockOn(db: Knex, table: string, counter: Counter, key: string, seconds: number): Promise<void> {
  await createCounterStore(db, table, { batching: false }).counter(counter.name, counter.max, counter.windowSeconds).block(key, seconds);
}
