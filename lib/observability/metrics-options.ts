/**
 * The argument checks of `otpMetrics(otp, options)` (lib/observability/metrics.ts), apart so that
 * file stays small: clear errors that name the option.
 */
import type { Registry } from 'prom-client';
import { configError } from '../errors.js';

const PREFIX = /^([A-Za-z_:][A-Za-z0-9_:]*)?$/;
const KNOWN_OPTIONS = ['registry', 'prefix', 'latencyBuckets'];

/** Checks otpMetrics' arguments: the service, and its options (clear errors naming the option). */
export function validateMetricsArguments(otp: unknown, options: unknown): void {
  const o = otp as { events?: { on?: unknown }; knex?: unknown; config?: unknown } | null;
  if (typeof o !== 'object' || o === null || typeof o.events?.on !== 'function' || typeof o.knex !== 'function' || o.config === undefined) {
    throw new TypeError('otpMetrics(otp, options): the first argument must be the service returned by createOtp()');
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw configError("otpMetrics: options must be an object, e.g. otpMetrics(otp, { prefix: 'otp_' })");
  }
  const opts = options as Record<string, unknown>;
  for (const key of Object.keys(opts)) {
    if (!KNOWN_OPTIONS.includes(key)) throw configError(`otpMetrics: unknown option \`${key}\`; known options: ${KNOWN_OPTIONS.join(', ')}`);
  }
  const registry = opts.registry as Partial<Registry> | undefined;
  if (registry !== undefined && (typeof registry !== 'object' || typeof registry.registerMetric !== 'function' || typeof registry.metrics !== 'function')) {
    throw new TypeError('otpMetrics: option `registry` must be a prom-client Registry (new Registry(), or prom-client\'s `register`)');
  }
  if (opts.prefix !== undefined && (typeof opts.prefix !== 'string' || !PREFIX.test(opts.prefix))) {
    throw configError(`otpMetrics: option \`prefix\` must be a Prometheus metric name prefix (letters, digits, "_" and ":", not starting with a digit), e.g. 'otp_' (got ${JSON.stringify(opts.prefix) ?? 'undefined'})`);
  }
  const buckets = opts.latencyBuckets;
  if (
    buckets !== undefined &&
    (!Array.isArray(buckets) || buckets.length === 0 || !buckets.every((b, i) => typeof b === 'number' && Number.isFinite(b) && b > 0 && (i === 0 || b > (buckets[i - 1] as number))))
  ) {
    throw configError('otpMetrics: option `latencyBuckets` must be a non-empty list of increasing positive numbers of seconds, e.g. [0.1, 0.5, 1, 5]');
  }
}
