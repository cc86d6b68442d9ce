/** Request-body schemas, compiled once. Unknown fields, wrong types and extra nesting are refused. */
import Joi from 'joi';
import { ANY_CODE_PATTERN, codeRule, PURPOSE_PATTERN, PURPOSE_RULE } from '../core/patterns.js';

const phone = Joi.string().min(1).max(32).required();
const purpose = Joi.string().pattern(PURPOSE_PATTERN).messages({ 'string.pattern.base': PURPOSE_RULE });

/** What the three routes accept (code only on /verify). */
export interface HttpBody {
  readonly phone: string;
  readonly code?: string;
  readonly purpose?: string;
}

export const sendBodySchema = Joi.object<HttpBody>({ phone, purpose }).required().options({ convert: false, abortEarly: true });

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
