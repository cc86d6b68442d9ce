/**
 * A code the provider owns (Twilio Verify, Sinch): the provider that delivered checks it (sticky).
 * One unit of the number's failure budget and one attempt on the request are reserved before the
 * provider compares, so parallel guesses cannot exceed either while the call is in flight; the
 * outcome settles them, and a right code consumes the request atomically.
 */
import { redact } from '../core/redact.js';
import { OtpError } from '../errors.js';
import { ProviderError } from '../providers/provider-error.js';
import { callProvider } from '../providers/timeout.js';
import type { RequestRow } from '../storage/request-row.js';
import type { VerifyResult } from '../types.js';
import type { OtpDeps, Outcome } from './deps.js';
import { explainRefusal, verified, wrongCode } from './verdicts.js';

type Checked = 'right' | 'wrong' | 'gone';

async function askProvider(deps: OtpDeps, row: RequestRow & { provider: string }, e164: string, code: string): Promise<Checked> {
  const { config } = deps;
  const provider = deps.registry.get(row.provider);
  if (provider.check === undefined) throw new OtpError('CONFIG_INVALID', `provider ${row.provider} owns codes but has no check()`);
  const check = provider.check.bind(provider);
  try {
    const result = await callProvider(row.provider, config.providerTimeoutMs, (signal) =>
      check({ requestId: row.requestId, phone: e164, channel: row.channel, code, signal, ...(row.providerRef === null ? {} : { ref: row.providerRef }) }),
    );
    return result.status === 'gone' ? 'gone' : result.status === 'wrong' ? 'wrong' : 'right';
  } catch (error) {
    const summary = error instanceof ProviderError ? error.summary() : String(error);
    config.logger.warn({ requestId: row.requestId, provider: row.provider, error: String(redact(summary, { phone: e164, code })) }, 'otp provider check failed');
    throw new OtpError('PROVIDER_UNAVAILABLE', 'The code could not be checked right now; try again.', { requestId: row.requestId });
  }
}

export async function checkProviderCode(deps: OtpDeps, row: RequestRow & { provider: string }, e164: string, code: string, now: number): Promise<Outcome<VerifyResult>> {
  const { budget, store, config, events } = deps;
  const spent = await budget.reserve(e164);
  if (spent !== undefined) return { refusal: spent };
  let settled: 'failed' | 'succeeded' | undefined;
  try {
    if (!(await store.countAttempt(row.id, now, config.maxAttempts))) return await explainRefusal(deps, row, false);
    const checked = await askProvider(deps, row, e164, code);
    if (checked === 'gone') {
      events.emit('verify-failed', { requestId: row.requestId, reason: 'OTP_EXPIRED' });
      return { result: { requestValid: false, codeValid: false, reason: 'OTP_EXPIRED', requestId: row.requestId } };
    }
    if (checked === 'wrong') {
      settled = 'failed';
      return wrongCode(deps, row);
    }
    if (!(await store.consume(row.id, config.clock(), config.maxAttempts, true))) return await explainRefusal(deps, row, false);
    settled = 'succeeded';
    return verified(deps, row, e164);
  } finally {
    if (settled === 'failed') await budget.failed(e164, true);
    else if (settled === 'succeeded') await budget.succeeded(e164, undefined);
    else await budget.release(e164);
  }
}
