// lbctl's errors: one catalog of stable codes, typed errors carrying their exit code, and the one wrapper that turns
// whatever a command throws into an exit code and a few lines on stderr (a stack trace only with --verbose).
import type { Problem } from '../control/api.js';

/** Exit codes, as DESIGN.md "Contract > lbctl" states them. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
} as const;

/**
 * Every code lbctl itself raises (the README's error table lists them). Errors the daemon answers with keep the
 * daemon's own code (e.g. XLB_CONFIG_INVALID), which lbctl passes through unchanged.
 */
export const CLI_CODES = {
  /** The command line is wrong: unknown verb or option, missing or malformed argument. Exit 2. */
  XLB_USAGE: 'the command line is wrong',
  /** Nothing listens on the control socket: the file is missing or stale. */
  XLB_NO_DAEMON: 'no daemon listens on the control socket',
  /** The control socket exists but this user may not open it (it is mode 0600). */
  XLB_SOCKET_PERMISSION: 'not allowed to open the control socket',
  /** The daemon accepted the connection but did not answer in time. */
  XLB_DAEMON_TIMEOUT: 'the daemon did not answer in time',
  /** The connection failed or broke for another reason. */
  XLB_CONNECTION_FAILED: 'the connection to the daemon failed',
  /** The daemon answered something that is not the JSON the contract promises. */
  XLB_BAD_RESPONSE: 'the daemon answered something unexpected',
  /** The daemon answered an error status without an error body. */
  XLB_DAEMON_ERROR: 'the daemon reported an error',
  /** A config file named on the command line (-c, config check/apply) could not be read. */
  XLB_CONFIG_UNREADABLE: 'a config file could not be read',
  /** `lbctl config check` found problems in the file. */
  XLB_CONFIG_INVALID: 'the config file has problems',
  /** Anything else: a bug or an unexpected condition. */
  XLB_INTERNAL: 'unexpected error',
} as const;

export type CliCode = keyof typeof CLI_CODES;

export interface CliErrorOptions {
  /** Defaults to EXIT.failed. */
  exitCode?: number;
  /** Lines printed after the message, e.g. one per config problem. */
  details?: string[];
  cause?: unknown;
}

/** An error lbctl expects: its message is what the operator reads, `code` is stable, `exitCode` is how lbctl ends. */
export class CliError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly details: string[];

  constructor(code: CliCode | (string & {}), message: string, options: CliErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.code = code;
    this.exitCode = options.exitCode ?? EXIT.failed;
    this.details = options.details ?? [];
  }
}

/** The command line is wrong. Exit 2; the usage line of the command is shown with it. */
export class UsageError extends CliError {
  /** The command's usage line, e.g. `lbctl backend add <service> <address>`; filled in by the parser's fail hook. */
  usage?: string;

  constructor(message: string, usage?: string) {
    super('XLB_USAGE', message, { exitCode: EXIT.usage });
    this.name = 'UsageError';
    this.usage = usage;
  }
}

/** The daemon answered an error status with an ErrorBody: its message, code and problems are shown as they are. */
export class DaemonError extends CliError {
  readonly status: number;
  readonly problems: Problem[];

  constructor(status: number, code: string, message: string, problems: Problem[] = []) {
    super(code, message, { details: problems.map((p) => `  ${formatProblem(p)}`) });
    this.name = 'DaemonError';
    this.status = status;
    this.problems = problems;
  }
}

/** `path: message`, or the message alone when the problem has no path (e.g. a YAML syntax error). */
export function formatProblem(p: Problem): string {
  return p.path ? `${p.path}: ${p.message}` : p.message;
}

/**
 * The lines stderr gets for `err`: `lbctl: MESSAGE`, then the details. A usage error adds the command's usage line
 * and where to find help. With `verbose`, the code and the stack follow (for any error).
 */
export function errorLines(err: unknown, verbose: boolean): string[] {
  const lines: string[] = [];
  if (err instanceof UsageError && err.usage) lines.push(`Usage: ${err.usage}`);
  const message = err instanceof Error ? err.message : String(err);
  lines.push(`lbctl: ${message}`);
  if (err instanceof CliError) lines.push(...err.details);
  if (err instanceof UsageError) lines.push(`Run '${helpCommand(err.usage)} --help' for details.`);
  if (verbose) {
    lines.push(`code: ${err instanceof CliError ? err.code : 'XLB_INTERNAL'}`);
    if (err instanceof Error && err.stack) lines.push(err.stack);
    let cause = err instanceof Error ? err.cause : undefined;
    while (cause !== undefined) {
      lines.push(`caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`);
      cause = cause instanceof Error ? cause.cause : undefined;
    }
  }
  return lines;
}

/** The exit code for `err`: its own for a CliError, 1 for anything else. */
export function exitCodeOf(err: unknown): number {
  return err instanceof CliError ? err.exitCode : EXIT.failed;
}

/**
 * The one wrapper: runs `fn`; on success returns 0, on any error writes errorLines(err) through `writeError` and
 * returns the error's exit code.
 */
export async function handleErrors(
  verbose: boolean,
  fn: () => Promise<void>,
  writeError: (lines: string[]) => void,
): Promise<number> {
  try {
    await fn();
    return EXIT.ok;
  } catch (err) {
    writeError(errorLines(err, verbose));
    return exitCodeOf(err);
  }
}

/** `lbctl backend add <service> <address>` -> `lbctl backend add`. */
function helpCommand(usage: string | undefined): string {
  if (!usage) return 'lbctl';
  const words = usage.split(/\s+/);
  const end = words.findIndex((w) => /^[<[-]/.test(w));
  return (end === -1 ? words : words.slice(0, end)).join(' ');
}
