// Reading and checking a config off the event loop (in ./config-worker.ts), for the daemon's start, SIGHUP and
// `lbctl config apply`: a big file costs a worker thread's time, not the health checks' or the control socket's.
import { Worker } from 'node:worker_threads';
import type { Problem } from '../control/api.js';
import { XlbError } from '../errors.js';
import { ConfigError } from '../../config/load.js';
import type { Config } from '../../config/types.js';

/** A file to read, or text already read (`lbctl config apply`). */
export type ConfigInput = { path: string } | { text: string };

export interface ConfigOutput {
  /** Set when there is no problem. */
  config?: Config;
  problems?: Problem[];
  /** Why the file could not be read. */
  unreadable?: string;
}

const WORKER = new URL('./config-worker.js', import.meta.url);

/**
 * Reads (a file over MAX_CONFIG_BYTES is a problem, not read whole) and checks a config in a worker thread.
 * `signal` ends the worker (the daemon is stopping).
 * @returns the config, or every problem.
 * @throws ConfigError XLB_CONFIG_UNREADABLE when the file cannot be read.
 */
export function checkConfig(input: ConfigInput, signal?: AbortSignal): Promise<{ config?: Config; problems: Problem[] }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: input });
    const abort = () => {
      void worker.terminate();
      reject(new XlbError('XLB_CANCELLED', 'the daemon is stopping: the config was not read to the end, nothing changed'));
    };
    signal?.addEventListener('abort', abort, { once: true });
    worker.once('message', (out: ConfigOutput) => {
      signal?.removeEventListener('abort', abort);
      void worker.terminate();
      if (out.unreadable !== undefined) {
        const where = 'path' in input ? input.path : 'the config';
        reject(new ConfigError('XLB_CONFIG_UNREADABLE', `${where}: cannot read the config: ${out.unreadable}`));
      } else {
        resolve(out.config ? { config: out.config, problems: [] } : { problems: out.problems ?? [] });
      }
    });
    worker.once('error', (err) => {
      signal?.removeEventListener('abort', abort);
      reject(err);
    });
  });
}
