/**
 * prom-client is an optional peer dependency: only `otpMetrics` needs it, so an app that does not
 * serve Prometheus metrics does not install it (it brings bintrees and tdigest along). It is
 * required on the first `otpMetrics()` call, from the kit's own location (the CommonJS build gets
 * `import.meta.url` from tsup's shims), and a missing install is a `CONFIG_INVALID` error naming the
 * command to run, as for the provider SDKs (lib/providers/lazy.ts).
 */
import { createRequire } from 'node:module';
import type * as PromClientModule from 'prom-client';
import { configError } from '../errors.js';

export type PromClient = typeof PromClientModule;

const requireFromKit = createRequire(import.meta.url);
let loaded: PromClient | undefined;

/** prom-client, loaded once; throws CONFIG_INVALID with `npm install prom-client` when it is not installed. */
export function loadPromClient(): PromClient {
  if (loaded !== undefined) return loaded;
  try {
    loaded = requireFromKit('prom-client') as PromClient;
    return loaded;
  } catch (error) {
    const missing = (error as { code?: unknown } | null)?.code === 'MODULE_NOT_FOUND' && /prom-client/.test((error as Error).message);
    if (!missing) throw error;
    throw configError('otpMetrics needs prom-client, which is not installed: run `npm install prom-client` (an optional peer dependency of express-otp-kit, needed only for metrics)');
  }
}
