/**
 * Sinch's verification-request callback (`VerificationRequestEvent`): before it sends, Sinch asks
 * the app whether to go ahead. Audit 23.7: the answer is `allow` only for a verification the kit
 * started itself, i.e. the event carries the reference the kit gave Sinch (`<requestId>.<6 hex>`,
 * lib/providers/sinch.ts) of a live request to the same number, on a chain with a Sinch step for
 * the event's method. Anything else (no or a foreign reference, another number, a request that
 * was verified, superseded or expired) is denied, so a verification started with the application's
 * credentials outside the kit costs nothing.
 */
import { parseChainStep } from '../core/channels.js';
import type { Channel } from '../types.js';
import type { OtpDeps } from './deps.js';

const REFERENCE = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.[0-9a-f]{6}$/;
const CHANNEL_OF_METHOD: Readonly<Record<string, Channel>> = { sms: 'sms', callout: 'call', whatsapp: 'whatsapp' };

interface RequestEvent {
  readonly reference?: unknown;
  readonly method?: unknown;
  readonly identity?: { readonly type?: unknown; readonly endpoint?: unknown } | null;
}

const digitsOf = (text: string): string => text.replace(/[^0-9]/g, '');

/** Whether the kit started the verification a signed `VerificationRequestEvent` asks about. */
export async function sinchRequestAllowed(deps: OtpDeps, body: unknown): Promise<boolean> {
  if (typeof body !== 'object' || body === null) return false;
  const event = body as RequestEvent;
  const requestId = typeof event.reference === 'string' ? REFERENCE.exec(event.reference)?.[1] : undefined;
  const channel = typeof event.method === 'string' ? CHANNEL_OF_METHOD[event.method] : undefined;
  const endpoint = event.identity?.type === 'number' && typeof event.identity.endpoint === 'string' ? digitsOf(event.identity.endpoint) : '';
  if (requestId === undefined || channel === undefined || endpoint === '') return false;
  const row = await deps.store.byRequestId(requestId);
  if (row === undefined || digitsOf(row.phone) !== endpoint) return false;
  if (row.verifyStatus !== 'pending' || deps.config.clock() >= row.expiresAt) return false;
  return row.chain.some((entry) => {
    const step = parseChainStep(entry, row.channel);
    return step.provider.toLowerCase() === 'sinch' && step.channel === channel;
  });
}
