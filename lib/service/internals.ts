/**
 * The dependency object behind each `Otp`, for the kit's own parts (the router's result-returning
 * calls, tests) without putting keys or credentials on the public object.
 */
import { configError } from '../errors.js';
import type { OtpDeps } from './deps.js';

const internals = new WeakMap<object, OtpDeps>();

export function attachInternals<T extends object>(otp: T, deps: OtpDeps): T {
  internals.set(otp, deps);
  return otp;
}

/** The dependencies of an `Otp` made by `createOtp`; throws for anything else. */
export function internalsOf(otp: object): OtpDeps {
  const deps = internals.get(otp);
  if (deps === undefined) throw configError('expected an Otp made by createOtp()');
  return deps;
}

/** Like `internalsOf`, but undefined for an object `createOtp` did not make. */
export function maybeInternalsOf(otp: object): OtpDeps | undefined {
  return internals.get(otp);
}
