/**
 * A code the kit checks itself (Mada, Console, custom providers, test numbers). The guess is
 * compared in process (constant time, every accepted key), then decided by ONE conditional
 * statement on the request, right or wrong alike: a right code consumes it, a wrong one counts an
 * attempt, and both need the request live, under `maxAttempts` and the number's failure budget
 * unspent. So at most `maxAttempts` guesses are ever decided per request, and a guess that arrives
 * after the cap is refused whatever its value (audit 19.1). The failure is charged to the number
 * afterwards; near the end of its budget every guess reserves its unit first (lib/limits/verify-budget.ts).
 */
import { codeMatches } from '../core/code.js';
import type { LockState } from '../storage/lock-reads.js';
import type { RequestRow } from '../storage/request-row.js';
import type { VerifyResult } from '../types.js';
import type { OtpDeps, Outcome } from './deps.js';
import { explainRefusal, verified, wrongCode } from './verdicts.js';

export async function checkKitCode(deps: OtpDeps, row: RequestRow, e164: string, code: string, now: number, locks: LockState): Promise<Outcome<VerifyResult>> {
  const { budget, store, config } = deps;
  const right = codeMatches(deps.keys.digest, row.codeDigest, row.requestId, e164, code);
  const reserved = budget.mustReserve(locks);
  if (reserved) {
    const spent = await budget.reserve(e164, locks);
    if (spent !== undefined) return { refusal: spent };
  }
  let decided = false;
  try {
    // A reservation already holds this guess's unit; without one, the budget must be unspent now.
    const condition = reserved ? undefined : budget.condition(e164);
    decided = right ? await store.consume(row.id, now, config.maxAttempts, false, condition) : await store.countAttempt(row.id, now, config.maxAttempts, condition);
  } finally {
    if (!decided && reserved) await budget.release(e164);
  }
  if (!decided) return explainRefusal(deps, row, true);
  if (right) {
    // A reservation is cleared with the rest of the failures.
    await budget.succeeded(e164, reserved ? undefined : locks);
    return verified(deps, row, e164);
  }
  await budget.failed(e164, reserved, locks);
  return wrongCode(deps, row);
}
