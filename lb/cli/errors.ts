// lbctl's errors, with codes from the one catalog (config/errors.ts, README "Errors"), and the one wrapper that turns
// whatever a command throws into an exit code and a few lines on stderr (a stack trace only with --verbose).
import { EXIT, isErrorCode, XlbError, type ErrorCode } from '../../config/errors.js';
import { formatProblem, type Problem } from '../../config/problem.js';
import { errorCode } from '../errors.js';

export interface CliErrorOptions {
  /** Lines printed after the message, e.g. one per config problem. */
  details?: string[];
  problems?: Problem[];
  cause?: unknown;
}

/** An error lbctl expects: its message is what the operator reads; its code (and so its exit code) is the catalog's. */
export class CliError extends XlbError {
  readonly details: string[];

  constructor(code: ErrorCode, message: string, options: CliErrorOptions = {}) {
    super(code, message, { problems: options.problems, cause: options.cause });
    this.name = 'CliError';
    this.details = options.details ?? [];
  }
}

/** The command line is wrong. Exit 2; the usage line of the command is shown with it. */
export class UsageError extends CliError {
  /** The command's usage line, e.g. `lbctl backend add <service> <address>`; filled in by the parser's fail hook. */
  usage?: string;

  constructor(message: string, usage?: string) {
    super('XLB_USAGE', message);
    this.name = 'UsageError';
    this.usage = usage;
  }
}

/**
 * The daemon answered an error status with an ErrorBody: its message, code and problems are shown as they are. A code
 * this lbctl does not know (a newer daemon's) is shown in the message, under XLB_DAEMON_ERROR.
 */
export class DaemonError extends CliError {
  /** The HTTP status the daemon answered. */
  override readonly status: number;

  constructor(status: number, code: string, message: string, problems: Problem[] = []) {
    const known = isErrorCode(code);
    super(known ? code : 'XLB_DAEMON_ERROR', known ? message : `${message} (code ${code})`,
      { details: problems.map((p) => `  ${formatProblem(p)}`), problems });
    this.name = 'DaemonError';
    this.status = status;
  }
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
    lines.push(`code: ${errorCode(err)}`);
    if (err instanceof Error && err.stack) lines.push(err.stack);
    let cause = err instanceof Error ? err.cause : undefined;
    while (cause !== undefined) {
      lines.push(`caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`);
      cause = cause instanceof Error ? cause.cause : undefined;
    }
  }
  return lines;
}

/** The exit code for `err`: its code's for an XlbError, 1 for anything else. */
export function exitCodeOf(err: unknown): number {
  return err instanceof XlbError ? err.exitCode : EXIT.failed;
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
