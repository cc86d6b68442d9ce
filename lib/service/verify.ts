/**
 * A verify, step by step: check the input → per-IP verify cap → the number's newest request and
 * its lock rows in one statement (shared with the verifies in flight) → locked? → is the request
 * live (lib/core/policy.ts)? → check the code: the kit's own digest (lib/service/kit-code.ts) or
 * the provider that owns the code (lib/service/provider-code.ts) → on success, a signed token.
 */
import { refusal } from '../core/policy.js';
import type { PhoneInput, VerifyFailureCode, VerifyOptions, VerifyResult } from '../types.js';
import type { OtpDeps, Outcome } from './deps.js';
import { codeRule } from '../core/patterns.js';
import { isProviderCode, providerCodeFormat } from '../providers/code-format.js';
import type { RequestRow } from '../storage/request-row.js';
import { assertCodeShape, invalidCode, isKitCode, parsePhone, purposeOf } from './inputs.js';
import { checkKitCode } from './kit-code.js';
import { checkProviderCode } from './provider-code.js';
import { workflowSources } from './workflow-code.js';

export async function verifyOtp(given: OtpDeps, phone: PhoneInput, code: string, opts: VerifyOptions = {}): Promise<Outcome<VerifyResult>> {
  const e164 = parsePhone(phone, given.config.defaultCountry).e164;
  assertCodeShape(code, given.config.codeLength);
  // A safe-listed number or client meets no verify limit (the request's own attempts still count).
  const safe = await given.fraud.safeList.match(e164, opts.ip);
  if (safe !== undefined) given.fraud.safeList.used(safe, 'verify');
  const deps = safe === undefined ? given : { ...given, budget: given.fraud.safeBudget };
  const outcome = await verifyChecked(deps, e164, code, opts);
  // Codes of a held range verified again may release its hold early (lib/limits/holds.ts).
  if (outcome.result?.codeValid === true) await deps.fraud.holds.verified(e164);
  return outcome;
}

async function verifyChecked(deps: OtpDeps, e164: string, code: string, opts: VerifyOptions): Promise<Outcome<VerifyResult>> {
  const { config, budget, events } = deps;
  const purpose = opts.purpose === undefined ? undefined : purposeOf(opts.purpose);
  const limited = await budget.admit(opts.ip);
  if (limited !== undefined) return { refusal: limited };
  const now = config.clock();
  const found = await deps.store.latest(e164);
  const locks = await budget.locked(e164, found?.locks);
  if (locks.refusal !== undefined) return { refusal: locks.refusal };
  const row = found?.row;
  let refused: VerifyFailureCode | undefined = refusal(row, now, config.maxAttempts);
  if (refused === undefined && purpose !== undefined && row?.purpose !== purpose) refused = 'OTP_NOT_FOUND';
  assertCodeFor(deps, row !== undefined && refused === undefined ? row : undefined, code);
  if (row === undefined || refused !== undefined) {
    const reason = refused ?? 'OTP_NOT_FOUND';
    events.emit('verify-failed', { requestId: row?.requestId, reason });
    return { result: { requestValid: false, codeValid: false, reason, ...(row === undefined ? {} : { requestId: row.requestId }) } };
  }
  // A workflow: the providers of every delivered step, latest first (lib/service/workflow-code.ts).
  const sources = workflowSources(row);
  if (sources !== undefined) return checkProviderCode(deps, row, e164, code, now, sources, locks.state);
  if (row.codeOwner === 'kit' || row.provider === null) return checkKitCode(deps, row, e164, code, now, locks.state);
  return checkProviderCode(deps, row, e164, code, now, [{ provider: row.provider, ref: row.providerRef, channel: row.channel }], locks.state);
}

/**
 * The exact shape the code must have: what the provider that owns it can issue (Sinch may send
 * letters), else `codeLength` digits (kit-owned codes, and when there is no live request).
 */
function assertCodeFor(deps: OtpDeps, row: RequestRow | undefined, code: string): void {
  const { codeLength } = deps.config;
  const sources = row === undefined ? undefined : workflowSources(row);
  if (sources !== undefined) {
    // Any step's format will do: the code may have come from any of them.
    const fits = sources.some((s) => (s.provider === null ? isKitCode(code, codeLength) : isProviderCode(deps.registry.get(s.provider), code)));
    if (!fits) throw invalidCode(`"code" must be the code of one of the messages or calls (${codeRule(codeLength)})`);
    return;
  }
  if (row !== undefined && row.codeOwner === 'provider' && row.provider !== null) {
    const provider = deps.registry.get(row.provider);
    if (!isProviderCode(provider, code)) throw invalidCode(`"code" must be ${providerCodeFormat(provider).description}`);
    return;
  }
  if (!isKitCode(code, codeLength)) throw invalidCode(codeRule(codeLength));
}
