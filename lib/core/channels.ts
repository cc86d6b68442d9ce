/**
 * The delivery channels and the channel fallback (`channelFallback`). Pure. A request row's
 * provider chain names a provider alone for the asked channel, or `channel:Provider` for a
 * fallback step on another channel (`Mada,call:Twilio`): the chain stays one column, fixed at send
 * time, and rows written before fallbacks existed read as before.
 */
import Joi from 'joi';
import type { Channel } from '../types.js';

export const CHANNELS: readonly Channel[] = ['sms', 'call', 'whatsapp'];

export function isChannel(value: unknown): value is Channel {
  return typeof value === 'string' && (CHANNELS as readonly string[]).includes(value);
}

/** How a channel reads in messages. */
export function channelWords(channel: Channel): string {
  return channel === 'call' ? 'voice call' : channel === 'whatsapp' ? 'WhatsApp message' : 'text message';
}

/** `channelFallback`: for an asked channel, the channels to try next, in order, when all its providers fail. */
export type ChannelFallback = Readonly<Partial<Record<Channel, readonly Channel[]>>>;

const fallbackList = (own: Channel) =>
  Joi.array()
    .items(Joi.string().valid(...CHANNELS.filter((c) => c !== own)))
    .unique()
    .max(CHANNELS.length - 1);

export const channelFallbackSchema = Joi.object({ sms: fallbackList('sms'), call: fallbackList('call'), whatsapp: fallbackList('whatsapp') });

/** One step of a stored chain: the provider and the channel it is asked to deliver on. */
export interface ChainStep {
  readonly provider: string;
  readonly channel: Channel;
}

export function parseChainStep(entry: string, rowChannel: Channel): ChainStep {
  const colon = entry.indexOf(':');
  const prefix = colon === -1 ? undefined : entry.slice(0, colon);
  if (prefix !== undefined && isChannel(prefix)) return { provider: entry.slice(colon + 1), channel: prefix };
  return { provider: entry, channel: rowChannel };
}

export function formatChainStep(step: ChainStep, rowChannel: Channel): string {
  return step.channel === rowChannel ? step.provider : `${step.channel}:${step.provider}`;
}
