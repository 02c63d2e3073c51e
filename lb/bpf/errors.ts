// Errors of native calls: BpfError names the C function, the errno and what the call was about.
import os from 'node:os';
import { c, errno } from './ffi.js';

// Several names share a number; the kernel's BPF code says EOPNOTSUPP, and ENOTSUPP (524) is kernel-internal but does
// reach user space from bpf(2).
const ERRNO_NAMES = new Map<number, string>([
  [os.constants.errno.EOPNOTSUPP, 'EOPNOTSUPP'],
  [524, 'ENOTSUPP'],
]);
for (const [name, value] of Object.entries(os.constants.errno)) {
  if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name);
}

/** The name of errno `n` ("ECONNREFUSED"), or "E<n>" for a number without one. */
export function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `E${n}`;
}

/** A failed libbpf (or libc) call: `op` is the C function, `errno` positive, `code` its name (e.g. "EEXIST"). */
export class BpfError extends Error {
  readonly op: string;
  readonly errno: number;
  readonly code: string;
  /** The map, program, object, path or interface the call was about, when there is one. */
  readonly object: string | undefined;

  constructor(op: string, errno: number, options: { object?: string; detail?: string } = {}) {
    const code = errnoName(errno);
    const call = options.object === undefined ? op : `${op}(${options.object})`;
    const detail = options.detail === undefined ? '' : `: ${options.detail}`;
    super(`${call}: ${c.strerror(errno)} (${code})${detail}`);
    this.name = 'BpfError';
    this.op = op;
    this.errno = errno;
    this.code = code;
    this.object = options.object;
  }
}

/** Throws for a libbpf int result below zero (a -errno); returns it otherwise. */
export function check(op: string, result: number, object?: string): number {
  if (result < 0) throw new BpfError(op, -result, { object });
  return result;
}

/** errno after a call that signals failure by NULL or -1; never 0, so the error always has a cause. */
export function lastErrno(fallback: number): number {
  return errno() || fallback;
}
