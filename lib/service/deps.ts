/**
 * The one dependency object of the service: everything send and verify use, built once by
 * `createOtp` (lib/service/otp.ts). Internal: it holds keys and provider credentials, so it never
 * leaves the kit (the public `Otp` carries none of it).
 */
import type { Knex } from 'knex';
import type { TokenKeyring } from '../core/token.js';
import type { DeliveryDeps } from '../delivery/deliver.js';
import { configError, type Refusal } from '../errors.js';
import type { OtpEvents } from '../events.js';
import type { SendAdmission } from '../limits/send-admission.js';
import type { VerifyBudget } from '../limits/verify-budget.js';
import type { ResolvedOtpConfig } from '../options.js';
import type { ProviderRegistry } from '../providers/index.js';
import type { RequestStore } from '../storage/request-store.js';
import type { RoutingSource } from './routing-source.js';
import type { TestNumberSource } from './test-numbers.js';
import type { FraudGuardParts } from './fraud-guard.js';

export interface CodeKeys {
  /** Derived from the secrets, first one current: code digests, sealed codes, tokens. */
  readonly digest: readonly Buffer[];
  readonly cipher: readonly Buffer[];
  readonly token: TokenKeyring;
}

export interface OtpDeps {
  readonly config: ResolvedOtpConfig;
  readonly knex: Knex;
  readonly events: OtpEvents;
  readonly registry: ProviderRegistry;
  readonly routing: RoutingSource;
  readonly testNumbers: TestNumberSource;
  readonly store: RequestStore;
  readonly admission: SendAdmission;
  readonly budget: VerifyBudget;
  readonly keys: CodeKeys;
  readonly delivery: DeliveryDeps;
  /** This process's id in lease_owner columns. */
  readonly instanceId: string;
  /** Holds, safe list and the safe-listed verify budget (lib/service/fraud-guard.ts). */
  readonly fraud: FraudGuardParts;
}

/** What a service function answers: its result, or an expected refusal (a limit, the bot challenge). */
export type Outcome<T> = { readonly result: T; readonly refusal?: undefined } | { readonly refusal: Refusal; readonly result?: undefined };

/** Provider credentials known to the kit, blanked out of anything stored or logged. */
export function providerSecrets(config: ResolvedOtpConfig): string[] {
  const s = config.providerSettings;
  return [s.twilio?.authToken, s.sinch?.applicationSecret, s.mada?.password, config.env.TWILIO_AUTH_TOKEN, config.env.SINCH_APPLICATION_SECRET, config.env.MADA_PASSWORD].filter(
    (v): v is string => typeof v === 'string' && v.length > 0,
  );
}

/**
 * The fixed development secret is public: anyone could mint tokens with it. It is accepted only
 * while every routed provider is the Console one (audit 19.4); a real, billable provider needs
 * OTP_SECRET.
 */
export function assertSecretFits(config: ResolvedOtpConfig, providers: readonly string[]): void {
  if (!config.usingDevSecret) return;
  const real = providers.filter((name) => name !== 'Console');
  if (real.length > 0) {
    throw configError(`OTP_SECRET is not set: the development secret is refused while a real provider is routed (${real.join(', ')}); set OTP_SECRET (or the \`secret\` option) to at least 32 random characters`);
  }
}
