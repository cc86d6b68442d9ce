import { createRequire } from 'node:module';
import { configError } from '../errors.js';

/**
 * A value made on first use, once: the provider SDKs are imported and their clients built only
 * when a routed provider is first called (they cost tens of MB of memory). A failed attempt is
 * forgotten so the next call tries again.
 */
export function lazy<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make().catch((error: unknown) => {
      made = undefined;
      throw error;
    });
    return made;
  };
}

/**
 * Resolves from the kit's own location (not the app's working directory), so it finds what the
 * app installed next to the kit. The CommonJS build gets `import.meta.url` from tsup's shims.
 */
const resolveFromKit = createRequire(import.meta.url);

/** The optional peer SDK of each built-in provider that has one, and what to install. */
const PROVIDER_SDKS: Readonly<Record<string, { readonly packageName: string; readonly install: string }>> = {
  Twilio: { packageName: 'twilio', install: 'twilio' },
  // Newer releases depend on @sinch/* sub-packages that were never published: pin the version.
  Sinch: { packageName: '@sinch/sdk-core', install: '@sinch/sdk-core@1.4.0' },
};

/**
 * The provider SDKs are optional peer dependencies: an app installs only those its routing names.
 * Called for each routed built-in provider before its settings are checked (createOtp with forced
 * routing, ready(), setRouting) and by its factory, so a missing SDK is a startup error that says
 * what to install, not a failure on the first send. A no-op for providers without an SDK.
 */
export function assertProviderSdk(provider: string): void {
  const sdk = PROVIDER_SDKS[provider];
  if (sdk === undefined) return;
  try {
    resolveFromKit.resolve(sdk.packageName);
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 'MODULE_NOT_FOUND') throw error;
    throw configError(`provider ${provider} is routed but its SDK ${sdk.packageName} is not installed: run \`npm install ${sdk.install}\` (an optional peer dependency of express-otp-kit)`);
  }
}
