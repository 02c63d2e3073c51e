// Creating the directories the node's config names (the pin path, the control socket's directory), with errors that
// say which directory and why.
import { mkdirSync, statSync } from 'node:fs';
import { dirname, posix } from 'node:path';
import { XlbError } from './errors.js';

/**
 * Makes `path` and any missing parents, one component at a time. Node's mkdirSync({ recursive: true }) spins forever
 * when a parent lives on a filesystem that answers ENOENT to mkdir (sysfs under an unmounted /sys/fs/bpf, procfs), so
 * each component is created alone and the first that cannot be is named. `what` says what the directory is for.
 */
export function makeDirectories(path: string, what: string, mode = 0o755): void {
  const normal = posix.normalize(path);
  const missing: string[] = [];
  for (let dir = normal; !isDirectory(dir); dir = dirname(dir)) {
    if (dir === '/') break;
    missing.unshift(dir);
  }
  for (const dir of missing) {
    try {
      mkdirSync(dir, { mode });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EEXIST' && isDirectory(dir)) continue;
      const why = e.code === 'EEXIST' ? 'it exists and is not a directory' : e.message.split(',')[0];
      throw new XlbError('XLB_SETUP', `cannot create ${dir} for ${what}: ${why}`);
    }
  }
  if (!isDirectory(normal)) throw new XlbError('XLB_SETUP', `${normal} (for ${what}) is not a directory`);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
