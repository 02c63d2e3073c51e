// Runs in a worker thread: reads a config file (refusing one over the size limit before reading it whole) or takes
// its text, and checks it, so a big file never stalls the daemon's event loop (health checks, the control socket).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { parseConfig } from '../../config/load.js';
import { MAX_CONFIG_BYTES } from '../../config/limits.js';
import type { ConfigInput, ConfigOutput } from './config-reader.js';

function tooBig(bytes: number): ConfigOutput {
  return {
    problems: [{
      path: '',
      message: `the file is ${bytes} bytes, over the limit of ${MAX_CONFIG_BYTES} bytes for a config; nothing was read`,
    }],
  };
}

/** The file's text, reading at most one byte over the limit (a file that grows meanwhile is still refused). */
function readLimited(path: string): string | ConfigOutput {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_CONFIG_BYTES) return tooBig(size);
    const buffer = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let length = 0;
    for (let n; (n = readSync(fd, buffer, length, buffer.length - length, null)) > 0;) length += n;
    if (length > MAX_CONFIG_BYTES) return tooBig(length);
    return buffer.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
}

function check(input: ConfigInput): ConfigOutput {
  let text: string;
  if ('path' in input) {
    try {
      const read = readLimited(input.path);
      if (typeof read !== 'string') return read;
      text = read;
    } catch (err) {
      return { unreadable: (err as Error).message };
    }
  } else {
    const bytes = Buffer.byteLength(input.text);
    if (bytes > MAX_CONFIG_BYTES) return tooBig(bytes);
    text = input.text;
  }
  return parseConfig(text);
}

parentPort!.postMessage(check(workerData as ConfigInput));
