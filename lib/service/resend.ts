/**
 * "Call me instead": a resend of the number's live code request on a channel the user picks
 * (`POST /resend`, `otp.resend()`). It keeps the live request's purpose and, unless told otherwise,
 * its locale, and is an ordinary send from there: same routing, limits, retries and verification,
 * and it supersedes the live request.
 *
 * On the live request's channel it is a plain resend under `sendCooldownSeconds`. On another
 * channel, `limits.channelSwitchCooldownSeconds` (30 s by default) replaces that cooldown: the
 * switch is allowed once the latest code is that old, and no code goes to the number within a
 * switch's window (counted in the database, so two instances cannot both send). Every other limit
 * counts it.
 *
 * Audit 23.1: the client's `sendsPerIp` unit is taken before the lookup, and the cooldowns are
 * judged against the number's latest request whatever its state. Without a live code (or with one
 * of another purpose) a library call throws `OTP_NOT_FOUND`; with `hideMissing` (what the router
 * passes) the number meets the same limits and gets a look-alike result after as long as a real
 * send takes, with no row and no provider call, so an HTTP client cannot tell the two apart.
 */
import { maskPhone, type CanonicalPhone } from '../core/phone.js';
import { OtpError } from '../errors.js';
import { retryAfterSeconds } from '../limits/policy.js';
import type { RequestRow } from '../storage/request-row.js';
import type { Channel, PhoneInput, SendOptions, SendResult } from '../types.js';
import type { OtpDeps, Outcome } from './deps.js';
import { assertChannel, parsePhone, purposeOf } from './inputs.js';
import { deliverableChain, sendOtp } from './send.js';

export interface ResendOptions extends SendOptions {
  /**
   * Without a live code of this purpose, answer a look-alike result (no row, nothing sent, `provider`
   * null) instead of throwing 422 `OTP_NOT_FOUND`. `POST /resend` sets it; set it too when your own
   * route answers strangers. @default false
   */
  readonly hideMissing?: boolean;
}

/** 429 while the latest code to the number is younger than the switch cooldown (kit clock). */
function switchTooEarly(deps: OtpDeps, e164: string, latest: RequestRow, now: number): Outcome<SendResult> | undefined {
  const cooldown = deps.config.limits.channelSwitchCooldownSeconds;
  if (cooldown === false) return undefined;
  const msLeft = latest.createdAt + cooldown * 1000 - now;
  if (msLeft <= 0) return undefined;
  const retryAfter = retryAfterSeconds(msLeft);
  deps.events.emit('limit-hit', { limit: 'channelSwitchCooldownSeconds', key: maskPhone(e164), retryAfterSeconds: retryAfter });
  return { refusal: { code: 'RATE_LIMITED', retryAfter, limit: 'channelSwitchCooldownSeconds', max: 1, windowSeconds: cooldown } };
}

/** A resend without a live code, answered as a real one would be: same channel check, same limits, a decoy. */
async function lookAlike(deps: OtpDeps, number: CanonicalPhone, channel: Channel, opts: SendOptions, channelSwitch: boolean): Promise<Outcome<SendResult>> {
  await deliverableChain(deps, number, channel);
  const challengeToken = typeof opts.challengeToken === 'string' ? opts.challengeToken : undefined;
  const admission = await deps.admission.admit({ number, channel, purpose: purposeOf(opts.purpose), ip: opts.ip, challengeToken, channelSwitch, ipCounted: true, decoy: true });
  if ('refusal' in admission) return { refusal: admission.refusal };
  if ('decoy' in admission) return { result: admission.decoy };
  throw new OtpError('INTERNAL_ERROR', 'a look-alike resend was admitted as a real send');
}

export async function resendOtp(deps: OtpDeps, phone: PhoneInput, channel: Channel, opts: ResendOptions = {}): Promise<Outcome<SendResult>> {
  assertChannel(channel);
  const { config } = deps;
  const number = parsePhone(phone, config.defaultCountry);
  const { hideMissing, ...sendOptions } = opts;
  const wantedPurpose = sendOptions.purpose === undefined ? undefined : purposeOf(sendOptions.purpose);
  // A safe-listed number or client meets no limit here either (the fraud guard's safe list).
  const safe = await deps.fraud.safeList.match(number.e164, sendOptions.ip);
  // Counted before the lookup: probing numbers costs a client what sending to them does.
  const overLimit = safe === undefined ? await deps.admission.countClient(sendOptions.ip) : undefined;
  if (overLimit !== undefined) return { refusal: overLimit };
  const latest = (await deps.store.latest(number.e164))?.row;
  const now = config.clock();
  const live = latest !== undefined && latest.verifyStatus === 'pending' && now < latest.expiresAt && (wantedPurpose === undefined || latest.purpose === wantedPurpose) ? latest : undefined;
  if (live === undefined && hideMissing !== true) {
    throw new OtpError('OTP_NOT_FOUND', 'There is no pending code for this number to resend; request a new one.');
  }
  const channelSwitch = latest === undefined || channel !== latest.channel;
  const early = channelSwitch && latest !== undefined && safe === undefined ? switchTooEarly(deps, number.e164, latest, now) : undefined;
  if (early !== undefined) return early;
  if (live === undefined) return lookAlike(deps, number, channel, sendOptions, channelSwitch);
  return sendOtp(deps, number.e164, channel, { ...sendOptions, purpose: live.purpose }, { channelSwitch, locale: live.locale, ipCounted: safe === undefined });
}
