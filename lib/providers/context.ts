import type { Logger } from '../types.js';

/** What the kit gives a provider factory. */
export interface ProviderContext {
  readonly logger: Logger;
  /** Timeout of one provider call in ms; the kit also enforces it around every call. */
  readonly timeoutMs: number;
  /** The environment the kit was built from (process.env unless injected). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Epoch ms, for provider-side locks such as Twilio's 10-minute number lock. @default Date.now */
  readonly clock?: () => number;
}
