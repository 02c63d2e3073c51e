// How much a pool and a config file may hold. CAPACITY is the data plane's: the build-time XLB_MAX_* of
// bpf/xlb_layout.h (test/config/limits.test.ts proves the built object holds exactly these), checked with the pool so
// that what `config check` accepts, the data plane can hold.
import type { Problem } from './problem.js';

export const CAPACITY = {
  /** XLB_MAX_SERVICES */
  services: 256,
  /** XLB_MAX_BACKENDS, over all services */
  backends: 4096,
  /** XLB_MAX_PREFIXES: the deny list */
  denyPrefixes: 16384,
  /** XLB_MAX_PREFIXES: the allow-lists of all services together */
  allowPrefixes: 16384,
} as const;

/** A config file (or config text sent to the daemon) may be at most this long: 16 MiB. */
export const MAX_CONFIG_BYTES = 16 << 20;

/** The problem of a config of `bytes` bytes, if it is too long. */
export function configSizeProblem(bytes: number): Problem | undefined {
  if (bytes <= MAX_CONFIG_BYTES) return undefined;
  return { path: '', message: `the config is ${bytes} bytes, over the limit of ${MAX_CONFIG_BYTES} bytes (16 MiB)` };
}
