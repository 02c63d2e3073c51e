// xlb's one catalog of stable error codes: what each means, how lbctl exits with it and which HTTP status the
// control socket answers it with; XlbError carries one. README "Errors" lists exactly these codes (a test says so).
// It lives in config/, the layer everything else (lb/, cluster/, lbctl) builds on, so config's errors are XlbErrors.
import type { Problem } from './problem.js';

/** lbctl's exit codes, as DESIGN.md "Contract > lbctl" states them. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
} as const;

interface Entry {
  meaning: string;
  /** How lbctl exits when this is its error. */
  exit: number;
  /** The control socket's answer; undefined for codes only lbctl raises. */
  status?: number;
}

export const ERRORS = {
  XLB_USAGE: { exit: EXIT.usage, meaning: 'the command line is wrong: an unknown verb or option, a missing or malformed argument' },
  XLB_CONFIG_INVALID: {
    exit: EXIT.failed, status: 400,
    meaning: 'a config, or the pool a change would make, has problems; each is listed with its path; nothing was applied',
  },
  XLB_CONFIG_UNREADABLE: { exit: EXIT.failed, status: 400, meaning: 'the config file cannot be read' },
  XLB_BAD_REQUEST: {
    exit: EXIT.failed, status: 400,
    meaning: 'a control-socket request is malformed: a field missing or wrong, a body that is not JSON or too large',
  },
  XLB_NOT_FOUND: { exit: EXIT.failed, status: 404, meaning: 'no such service, backend, deny entry or route; the message lists what there is' },
  XLB_CONFLICT: {
    exit: EXIT.failed, status: 409,
    meaning: 'already there (a backend, a deny entry), or another daemon owns the control socket or the pin path',
  },
  XLB_PLAN: { exit: EXIT.failed, status: 400, meaning: 'the pool cannot be put in the data plane as it stands' },
  XLB_CANCELLED: {
    exit: EXIT.failed, status: 409,
    meaning: 'an edit was dropped before its turn (its client went away, it was cancelled, or the daemon stopped): nothing changed',
  },
  XLB_FOREIGN_XDP: {
    exit: EXIT.failed, status: 409,
    meaning: 'a configured interface runs an XDP program xlb did not put there; lbctl daemon --force replaces it',
  },
  XLB_SETUP: {
    exit: EXIT.failed, status: 500,
    meaning: 'a node resource the daemon cannot use: the BPF filesystem or pin path, an interface, the socket directory',
  },
  XLB_BPF: { exit: EXIT.failed, status: 500, meaning: 'a libbpf or kernel call failed; the message names the call and its errno' },
  XLB_HEALTH_NO_PORT: { exit: EXIT.failed, status: 500, meaning: 'a tcp or http health check has no port to probe' },
  XLB_HEALTH_BAD_ADDRESS: { exit: EXIT.failed, status: 500, meaning: 'a health check target is not an IP address' },
  XLB_HEALTH_BAD_CHECK: { exit: EXIT.failed, status: 500, meaning: 'a health check breaks the rules config check applies' },
  XLB_HEALTH_DUPLICATE_TARGET: { exit: EXIT.failed, status: 500, meaning: 'two health check targets share an id' },
  XLB_NO_HA: { exit: EXIT.failed, status: 409, meaning: 'the node is not one of an HA pair: its config has no ha: section' },
  XLB_SWITCHOVER_REFUSED: {
    exit: EXIT.failed, status: 409,
    meaning: 'the pair cannot hand over now (this node is not active, the peer is not heard, cannot serve, or its tables differ); the message says why',
  },
  XLB_REDIS_UNAVAILABLE: {
    exit: EXIT.failed, status: 503,
    meaning: 'Redis cannot be reached (down, failing over, refusing the TLS or password): the edit was not made, or, if the connection broke after the write was sent, its outcome is unknown (the message says which)',
  },
  XLB_REDIS_CONFLICT: { exit: EXIT.failed, status: 409, meaning: 'other nodes changed the pool in Redis first at every attempt: nothing was changed; try again' },
  XLB_REDIS_DATA_INVALID: {
    exit: EXIT.failed, status: 502,
    meaning: 'the pool in Redis breaks the rules (a hand edit, another version\'s layout); the key and each problem\'s path are named; edits are refused until a whole pool replaces it (lbctl config apply)',
  },
  XLB_REDIS_NO_POOL: { exit: EXIT.failed, status: 409, meaning: 'Redis holds no pool yet: a daemon seeds it when it starts, or lbctl config apply writes one' },
  XLB_REDIS_SETUP: { exit: EXIT.failed, status: 500, meaning: 'a file named under redis: (password_file, ca_file, sentinel_password_file) cannot be read or is empty' },
  XLB_NO_DAEMON: { exit: EXIT.failed, meaning: 'nothing listens on the control socket: the file is missing or stale' },
  XLB_SOCKET_PERMISSION: { exit: EXIT.failed, meaning: 'the control socket is mode 0600: run lbctl as the daemon\'s user' },
  XLB_DAEMON_TIMEOUT: { exit: EXIT.failed, meaning: 'the daemon accepted the connection but did not answer in time' },
  XLB_CONNECTION_FAILED: { exit: EXIT.failed, meaning: 'the connection to the daemon failed or broke' },
  XLB_BAD_RESPONSE: { exit: EXIT.failed, meaning: 'the daemon answered something that is not the JSON the contract promises' },
  XLB_DAEMON_ERROR: { exit: EXIT.failed, meaning: 'the daemon answered an error status without an error body' },
  XLB_INTERNAL: { exit: EXIT.failed, status: 500, meaning: 'anything else: a bug; see the daemon\'s log, or rerun lbctl with --verbose' },
} as const satisfies Record<string, Entry>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

export interface XlbErrorOptions {
  /** Every problem, each with its path (config and pool errors). */
  problems?: Problem[];
  cause?: unknown;
}

/** An error xlb expects: `message` says what is wrong and what to do, `code` is stable (see ERRORS). */
export class XlbError extends Error {
  readonly status: number;
  readonly exitCode: number;
  readonly problems: Problem[];

  constructor(readonly code: ErrorCode, message: string, options: XlbErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'XlbError';
    const entry: Entry = ERRORS[code];
    this.status = entry.status ?? 500;
    this.exitCode = entry.exit;
    this.problems = options.problems ?? [];
  }
}
