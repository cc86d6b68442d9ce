import type { Knex } from 'knex';
import type { TokenKeyring } from '../core/token.js';
import type { OtpEvents } from '../events.js';
import type { ResolvedOtpConfig } from '../options.js';
import type { ProviderRegistry } from '../providers/index.js';
import type { RoutingSource } from './routing-source.js';
import type { RequestBatches } from './request-batches.js';

/** Everything the service parts share; built once by createOtp. */
export interface KitContext {
  readonly config: ResolvedOtpConfig;
  readonly knex: Knex;
  readonly registry: ProviderRegistry;
  readonly routing: RoutingSource;
  readonly events: OtpEvents;
  /** Derived from the secrets, first one current: code digests, sealed codes, tokens. */
  readonly digestKeys: readonly Buffer[];
  readonly cipherKeys: readonly Buffer[];
  readonly tokenRing: TokenKeyring;
  /** The hot paths' request-row statements, group-committed across concurrent requests. */
  readonly batches: RequestBatches;
  /** Provider credentials, blanked out of anything stored or logged (see secretsOf). */
  readonly secrets: readonly string[];
  /** This process's id in lease_owner columns. */
  readonly instanceId: string;
}
