/**
 * Whether a routed provider delivers on a channel (used by a send and by a workflow step to build
 * the chain of a channel). A provider that cannot be built is logged and skipped.
 */
import { loggableError } from '../core/safe-error.js';
import type { Channel } from '../types.js';
import type { OtpDeps } from './deps.js';

export function serves(deps: OtpDeps, name: string, channel: Channel): boolean {
  try {
    return deps.registry.get(name).channels.includes(channel);
  } catch (error) {
    deps.config.logger.error({ provider: name, err: loggableError(error) }, 'routed provider cannot be built; skipping it');
    return false;
  }
}
