// The cluster's errors with stable codes (README "Errors"); the integrator folds them into lb/errors.ts's catalog.
import type { Problem } from '../lb/control/api.js';

/**
 * - `XLB_REDIS_UNAVAILABLE`: Redis cannot be reached (down, failing over, refusing our TLS or password); the edit was
 *   not made, or, when the connection broke after the write was sent, its outcome is unknown (the message says which).
 * - `XLB_REDIS_CONFLICT`: other writers changed the pool at every attempt; nothing was changed; try again.
 * - `XLB_REDIS_DATA_INVALID`: what Redis holds under the prefix breaks the rules; `key` and `problems` say where. Edits
 *   refuse until a whole new pool replaces it (`lbctl config apply`).
 * - `XLB_REDIS_NO_POOL`: Redis holds no pool yet: a daemon seeds it at start, or `lbctl config apply` writes one.
 * - `XLB_CONFIG_INVALID`: the pool an edit would write breaks the rules; `problems` lists each; nothing was changed.
 * - `XLB_REDIS_SETUP`: a file named under `redis:` (password_file, ca_file, sentinel_password_file) cannot be read or
 *   is empty.
 */
export type ClusterErrorCode =
  | 'XLB_REDIS_UNAVAILABLE'
  | 'XLB_REDIS_CONFLICT'
  | 'XLB_REDIS_DATA_INVALID'
  | 'XLB_REDIS_NO_POOL'
  | 'XLB_CONFIG_INVALID'
  | 'XLB_REDIS_SETUP';

export class ClusterError extends Error {
  constructor(
    readonly code: ClusterErrorCode,
    message: string,
    /** Each problem's path inside the document at `key` (or inside the edited pool). */
    readonly problems: Problem[] = [],
    /** The Redis key that holds the bad data (XLB_REDIS_DATA_INVALID). */
    readonly key?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ClusterError';
  }
}
