/**
 * The webhook of a request's end (`otp.verified`, `otp.expired`, `otp.max_attempts_reached`,
 * `otp.canceled`): the same Standard Webhooks envelope, outbox and signing as the other events,
 * with the `ended` event's fields as `data` (send attempts as an array). No number, code or token.
 */
import { randomUUID } from 'node:crypto';
import { endWebhookType, type RequestEndedEvent } from '../core/end-event.js';
import type { ResolvedWebhooks } from '../core/webhook-options.js';
import type { OutboxEntry } from '../storage/outbox-queries.js';

export interface EndWebhookBody {
  readonly type: ReturnType<typeof endWebhookType>;
  readonly timestamp: string;
  readonly data: RequestEndedEvent & { readonly occurredAt: string };
}

/** The outbox entry of a request's end, or none when webhooks are off or not subscribed to its type. */
export function endWebhookEntries(webhooks: ResolvedWebhooks | undefined, event: RequestEndedEvent, now: number): OutboxEntry[] {
  const type = endWebhookType(event.outcome);
  if (webhooks === undefined || !webhooks.events.has(type)) return [];
  const at = new Date(now).toISOString();
  const body: EndWebhookBody = { type, timestamp: at, data: { ...event, occurredAt: at } };
  // No phone_key: the body holds no number, not even masked (so `forget` has nothing of it to erase).
  return [{ webhookId: `msg_${randomUUID().replace(/-/g, '')}`, eventType: type, requestId: event.requestId, phoneKey: null, body: JSON.stringify(body) }];
}
