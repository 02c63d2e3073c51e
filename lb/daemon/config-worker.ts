// Runs in a worker thread: reads a config file (one over the size limit is refused before it is read whole) or takes
// its text, and checks it, so a big file never stalls the daemon's event loop (health checks, the control socket).
import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError, parseConfig, readConfigText } from '../../config/load.js';
import type { ConfigInput, ConfigOutput } from './config-reader.js';

function check(input: ConfigInput): ConfigOutput {
  let text: string;
  try {
    text = 'path' in input ? readConfigText(input.path) : input.text;
  } catch (err) {
    if (err instanceof ConfigError && err.code === 'XLB_CONFIG_INVALID') return { problems: err.problems };
    return { unreadable: ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message };
  }
  return parseConfig(text);
}

parentPort!.postMessage(check(workerData as ConfigInput));
