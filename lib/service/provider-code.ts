/**
 * A code the provider owns (Twilio Verify, Sinch): the provider that delivered checks it (sticky);
 * in a workflow (issue 26) the provider of each delivered step, latest first, and the kit's digest
 * for a kit-owned step, all for one attempt.
 * One unit of the number's failure budget and one attempt on the request are reserved before the
 * provider compares, so parallel guesses cannot exceed either while the call is in flight; the
 * outcome settles them, and a right code consumes the request atomically.
 */
import { codeMatches } from '../core/code.js';
import { redact } from '../core/redact.js';
import { OtpError } from '../errors.js';
import { ProviderError } from '../providers/provider-error.js';
import { callProvider } from '../providers/timeout.js';
import type { LockState } from '../storage/lock-reads.js';
import type { RequestRow } from '../storage/request-row.js';
import type { VerifyResult } from '../types.js';
import type { OtpDeps, Outcome } from './deps.js';
import { explainRefusal, verified, wrongCode } from './verdicts.js';
import type { VerifySource } from './workflow-code.js';

type Checked = 'right' | 'wrong' | 'gone';

async function askProvider(deps: OtpDeps, row: RequestRow, source: VerifySource & { provider: string }, e164: string, code: string): Promise<Checked> {
  const { config } = deps;
  const provider = deps.registry.get(source.provider);
  if (provider.check === undefined) throw new OtpError('CONFIG_INVALID', `provider ${source.provider} owns codes but has no check()`);
  const check = provider.check.bind(provider);
  try {
    const result = await callProvider(source.provider, config.providerTimeoutMs, (signal) =>
      check({ requestId: row.requestId, phone: e164, channel: source.channel, code, signal, ...(source.ref === null ? {} : { ref: source.ref }) }),
    );
    return result.status === 'gone' ? 'gone' : result.status === 'wrong' ? 'wrong' : 'right';
  } catch (error) {
    const summary = error instanceof ProviderError ? error.summary() : String(error);
    config.logger.warn({ requestId: row.requestId, provider: source.provider, error: String(redact(summary, { phone: e164, code })) }, 'otp provider check failed');
    throw new OtpError('PROVIDER_UNAVAILABLE', 'The code could not be checked right now; try again.', { requestId: row.requestId });
  }
}

/**
 * One guess against every source, latest first, until one says right: `right`, else `wrong` when
 * any source is still alive, `gone` when none is. A provider that cannot be asked fails the guess
 * only when no other source said right.
 */
async function askSources(deps: OtpDeps, row: RequestRow, sources: readonly VerifySource[], e164: string, code: string): Promise<Checked> {
  let alive = false;
  let failure: Error | undefined;
  for (const source of sources) {
    if (source.provider === null) {
      if (codeMatches(deps.keys.digest, row.codeDigest, row.requestId, e164, code)) return 'right';
      alive = true;
      continue;
    }
    try {
      const checked = await askProvider(deps, row, { ...source, provider: source.provider }, e164, code);
      if (checked === 'right') return 'right';
      if (checked === 'wrong') alive = true;
    } catch (error) {
      failure ??= error instanceof Error ? error : new Error(String(error));
    }
  }
  if (failure !== undefined) throw failure;
  return alive ? 'wrong' : 'gone';
}

/** `locks`: the number's lock rows as the lookup read them (they tell whether a failure may spend the budget). */
export async function checkProviderCode(deps: OtpDeps, row: RequestRow, e164: string, code: string, now: number, sources: readonly VerifySource[], locks?: LockState): Promise<Outcome<VerifyResult>> {
  const { budget, store, config, events } = deps;
  const spent = await budget.reserve(e164);
  if (spent !== undefined) return { refusal: spent };
  let settled: 'failed' | 'succeeded' | undefined;
  try {
    if (!(await store.countAttempt(row.id, now, config.maxAttempts))) return await explainRefusal(deps, row, false);
    const checked = await askSources(deps, row, sources, e164, code);
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
    if (settled === 'failed') await budget.failed(e164, true, locks);
    else if (settled === 'succeeded') await budget.succeeded(e164, undefined);
    else await budget.release(e164);
  }
}
