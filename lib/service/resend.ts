/**
 * "Call me instead": a resend of the number's live code request on a channel the user picks
 * (`POST /resend`, `otp.resend()`). It needs a live request (else 422 OTP_NOT_FOUND), keeps its
 * purpose and, unless told otherwise, its locale, and is an ordinary send from there: same
 * routing, limits, retries and verification, and it supersedes the live request.
 *
 * On the live request's channel it is a plain resend under `sendCooldownSeconds`. On another
 * channel, `limits.channelSwitchCooldownSeconds` (30 s by default) replaces that cooldown: the
 * switch is allowed once the live code is that old, and one switch per number per window is
 * counted in the database (so two instances cannot both switch). Every other limit counts it.
 */
import { maskPhone } from '../core/phone.js';
import { OtpError } from '../errors.js';
import { retryAfterSeconds } from '../limits/policy.js';
import type { Channel, PhoneInput, SendOptions, SendResult } from '../types.js';
import type { OtpDeps, Outcome } from './deps.js';
import { assertChannel, parsePhone, purposeOf } from './inputs.js';
import { sendOtp } from './send.js';

export async function resendOtp(deps: OtpDeps, phone: PhoneInput, channel: Channel, opts: SendOptions = {}): Promise<Outcome<SendResult>> {
  assertChannel(channel);
  const { config } = deps;
  const number = parsePhone(phone, config.defaultCountry);
  const wantedPurpose = opts.purpose === undefined ? undefined : purposeOf(opts.purpose);
  const live = (await deps.store.latest(number.e164))?.row;
  const now = config.clock();
  if (live === undefined || live.verifyStatus !== 'pending' || now >= live.expiresAt || (wantedPurpose !== undefined && live.purpose !== wantedPurpose)) {
    throw new OtpError('OTP_NOT_FOUND', 'There is no pending code for this number to resend; request a new one.');
  }
  const channelSwitch = channel !== live.channel;
  const cooldown = config.limits.channelSwitchCooldownSeconds;
  if (channelSwitch && cooldown !== false) {
    const msLeft = live.createdAt + cooldown * 1000 - now;
    if (msLeft > 0) {
      const retryAfter = retryAfterSeconds(msLeft);
      deps.events.emit('limit-hit', { limit: 'channelSwitchCooldownSeconds', key: maskPhone(number.e164), retryAfterSeconds: retryAfter });
      return { refusal: { code: 'RATE_LIMITED', retryAfter, limit: 'channelSwitchCooldownSeconds', max: 1, windowSeconds: cooldown } };
    }
  }
  return sendOtp(deps, number.e164, channel, { ...opts, purpose: live.purpose }, { channelSwitch, locale: live.locale });
}
