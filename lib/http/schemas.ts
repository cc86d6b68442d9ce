/** Request-body schemas, compiled once. Unknown fields, wrong types and extra nesting are refused. */
import Joi from 'joi';
import { CHANNELS } from '../core/channels.js';
import { LOCALE_MAX, LOCALE_PATTERN, LOCALE_RULE } from '../core/locale.js';
import { ANY_CODE_PATTERN, codeRule, PURPOSE_PATTERN, PURPOSE_RULE } from '../core/patterns.js';
import type { Channel } from '../types.js';

const phone = Joi.string().min(1).max(32).required();
const purpose = Joi.string().pattern(PURPOSE_PATTERN).messages({ 'string.pattern.base': PURPOSE_RULE });
const locale = Joi.string().max(LOCALE_MAX).pattern(LOCALE_PATTERN).messages({ 'string.pattern.base': LOCALE_RULE, 'string.max': LOCALE_RULE });

/** What the routes accept (code only on /verify, channel only on /resend, locale on the sends). */
export interface HttpBody {
  readonly phone: string;
  readonly code?: string;
  readonly purpose?: string;
  readonly locale?: string;
  readonly channel?: Channel;
}

export const sendBodySchema = Joi.object<HttpBody>({ phone, purpose, locale }).required().options({ convert: false, abortEarly: true });

export const resendBodySchema = Joi.object<HttpBody>({
  phone,
  channel: Joi.string().valid(...CHANNELS).required(),
  purpose,
  locale,
})
  .required()
  .options({ convert: false, abortEarly: true });

export function verifyBodySchema(codeLength: number): Joi.ObjectSchema<HttpBody> {
  return Joi.object<HttpBody>({
    phone,
    code: Joi.string()
      // The exact shape depends on who issued the code (kit or provider): the service checks it.
      .pattern(ANY_CODE_PATTERN)
      .required()
      .messages({ 'string.pattern.base': codeRule(codeLength) }),
    purpose,
  })
    .required()
    .options({ convert: false, abortEarly: true });
}
