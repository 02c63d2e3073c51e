// The control plane's errors: XlbError and its catalog of codes (config/errors.ts, which README "Errors" lists), and
// the catalog code of any error where it surfaces (an answer of the control socket, lbctl's exit).
import { type ErrorCode, XlbError } from '../config/errors.js';

export { type ErrorCode, XlbError };

/**
 * The stable code of `err`: its own for an XlbError; XLB_BPF for a native call's BpfError (recognised by name, so
 * that lbctl classifies one without loading the libbpf binding); XLB_INTERNAL for anything else.
 */
export function errorCode(err: unknown): ErrorCode {
  if (err instanceof XlbError) return err.code;
  if (err instanceof Error && err.name === 'BpfError') return 'XLB_BPF';
  return 'XLB_INTERNAL';
}
