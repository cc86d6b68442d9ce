/** Request-body schemas, compiled once. Unknown fields, wrong types and extra nesting are refused. */
import Joi from 'joi';

const phone = Joi.string().min(1).max(32).required();
const purpose = Joi.string().pattern(/^[a-z0-9][a-z0-9._:-]{0,63}$/i).messages({ 'string.pattern.base': '"purpose" must be 1-64 letters, digits, ".", "_", ":" or "-"' });

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
      .pattern(new RegExp(`^[0-9]{${codeLength}}$`))
      .required()
      .messages({ 'string.pattern.base': `"code" must be ${codeLength} digits` }),
    purpose,
  })
    .required()
    .options({ convert: false, abortEarly: true });
}
