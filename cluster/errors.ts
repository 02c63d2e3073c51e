// The cluster's errors: XlbErrors with the Redis codes of the one catalog (config/errors.ts), and the key of bad data.
import { XlbError, type ErrorCode } from '../config/errors.js';
import type { Problem } from '../config/problem.js';

export class ClusterError extends XlbError {
  constructor(
    code: ErrorCode,
    message: string,
    /** Each problem's path inside the document at `key` (or inside the edited pool). */
    problems: Problem[] = [],
    /** The Redis key that holds the bad data (XLB_REDIS_DATA_INVALID). */
    readonly key?: string,
    options: { cause?: unknown } = {},
  ) {
    super(code, message, { problems, cause: options.cause });
    this.name = 'ClusterError';
  }
}
