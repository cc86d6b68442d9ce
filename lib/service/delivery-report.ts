/**
 * A provider's delivery report (an inbound callback) recorded on the request it is about: the
 * request row's `delivery_report` and, when webhooks are configured, the `otp.delivered` /
 * `otp.undelivered` event, in one transaction. The first recorded outcome is final: a later
 * report changes nothing and sends nothing.
 */
import type { ReportOutcome } from '../webhooks/inbound.js';
import { recordDeliveryReport } from '../storage/outbox-queries.js';
import { webhookEntries } from '../webhooks/payload.js';
import { hastenStep } from '../storage/workflow-queries.js';
import type { OtpDeps } from './deps.js';

export interface DeliveryReport {
  /** The provider's name as routed (`Sinch`, `Mada`). */
  readonly provider: string;
  /** The provider's reference of the send (`provider_ref`: Sinch's verification id, Mada's messageId). */
  readonly ref: string;
  readonly outcome: ReportOutcome;
}

/** The request id the report was recorded on, or undefined (unknown reference, or an outcome already recorded). */
export async function reportDelivery(deps: OtpDeps, report: DeliveryReport): Promise<string | undefined> {
  const now = deps.config.clock();
  const type = report.outcome === 'delivered' ? 'otp.delivered' : 'otp.undelivered';
  const recorded = await recordDeliveryReport(deps.knex, deps.config.tables, { ...report, now }, (r) =>
    webhookEntries(deps.config.webhooks, type, () => ({ requestId: r.requestId, phone: r.phone, channel: r.channel, provider: r.provider }), now),
  );
  if (recorded === undefined) return undefined;
  // An escalation workflow does not wait for the step's timeout once the provider says undelivered.
  if (report.outcome === 'undelivered') await hastenStep(deps.knex, deps.config.tables, recorded.id, now);
  deps.events.emit('delivery-report', { requestId: recorded.requestId, provider: recorded.provider, outcome: report.outcome });
  return recorded.requestId;
}
