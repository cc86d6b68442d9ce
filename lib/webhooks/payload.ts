/**
 * Webhook bodies, in the Standard Webhooks shape `{ type, timestamp, data }`. The data says which
 * request (its id), the masked number, the channel, the provider and the times; never a code, a
 * token or a full number. A body is built once, when its event is written to the outbox, so every
 * attempt signs the same bytes under the same `webhook-id`.
 */
import { randomUUID } from 'node:crypto';
import { outboxSubject } from '../core/outbox-subject.js';
import { maskPhone } from '../core/phone.js';
import type { ResolvedWebhooks, WebhookEventType } from '../core/webhook-options.js';
import type { OutboxEntry } from '../storage/outbox-queries.js';

/** What every event's `data` carries (null where the event is not about one request). */
export interface WebhookEventData {
  readonly requestId: string | null;
  /** Masked, e.g. `+35987*****67`. */
  readonly phone: string | null;
  readonly channel: string | null;
  readonly provider: string | null;
  /** When it happened (ISO 8601). */
  readonly occurredAt: string;
  /** Event-specific fields: `attempt` (otp.sent), `status` and `attempts` (otp.failed). */
  readonly [field: string]: string | number | null;
}

export interface WebhookBody {
  readonly type: WebhookEventType;
  readonly timestamp: string;
  readonly data: WebhookEventData;
}

export interface EventFacts {
  readonly requestId?: string | null;
  /** The full number: masked here, never stored whole in the outbox. */
  readonly phone?: string | null;
  readonly channel?: string | null;
  readonly provider?: string | null;
  readonly extra?: Readonly<Record<string, string | number | null>>;
}

/**
 * The outbox entry of one event. `subjectKey` (the webhooks' current `subjectKeys[0]`) keys the
 * row's `phone_key`, so `forget` finds the event; required, so no event of a number is written
 * unfindable.
 */
export function webhookEntry(type: WebhookEventType, facts: EventFacts, now: number, subjectKey: Buffer | undefined): OutboxEntry {
  const at = new Date(now).toISOString();
  const data: WebhookEventData = {
    ...facts.extra,
    requestId: facts.requestId ?? null,
    phone: facts.phone === undefined || facts.phone === null ? null : maskPhone(facts.phone),
    channel: facts.channel ?? null,
    provider: facts.provider ?? null,
    occurredAt: at,
  };
  const body: WebhookBody = { type, timestamp: at, data };
  const phoneKey = facts.phone === undefined || facts.phone === null || subjectKey === undefined ? null : outboxSubject(subjectKey, facts.phone);
  return { webhookId: `msg_${randomUUID().replace(/-/g, '')}`, eventType: type, requestId: facts.requestId ?? null, phoneKey, body: JSON.stringify(body) };
}

/**
 * The entries to write with a state change: one when webhooks are configured and subscribe to
 * `type`, none otherwise (then the state change runs as one statement, as without webhooks).
 */
export function webhookEntries(webhooks: ResolvedWebhooks | undefined, type: WebhookEventType, facts: () => EventFacts, now: number): OutboxEntry[] {
  if (webhooks === undefined || !webhooks.events.has(type)) return [];
  return [webhookEntry(type, facts(), now, webhooks.subjectKeys[0])];
}
