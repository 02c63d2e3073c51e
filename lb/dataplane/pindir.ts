// The pin directory, where the maps outlive a daemon: on a BPF filesystem (mounted at /sys/fs/bpf when the machine
// has none, as bpftool and Cilium do), and owned by one daemon at a time through an flock on the directory, which the
// kernel releases when its holder exits, however it exits.
import { closeSync, constants, mkdirSync, openSync, readFileSync, rmdirSync, rmSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { mountBpffs, tryLockExclusive } from '../bpf/system.js';
import { makeDirectories } from '../dirs.js';
import { XlbError } from '../errors.js';

export const BPF_FS_ROOT = '/sys/fs/bpf';
const BPF_FS_MAGIC = 0xcafe4a11;

function onBpffs(path: string): boolean {
  try {
    return statfsSync(path).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/** Mounts a BPF filesystem at /sys/fs/bpf unless one is there; returns whether it mounted one. */
export function ensureBpffs(log: Logger): boolean {
  if (onBpffs(BPF_FS_ROOT)) return false;
  try {
    mountBpffs(BPF_FS_ROOT);
  } catch (err) {
    throw new XlbError('XLB_SETUP', `no BPF filesystem is mounted at ${BPF_FS_ROOT}, and mounting one failed ` +
      `(${(err as Error).message}); mount it with: mount -t bpf bpf ${BPF_FS_ROOT}`);
  }
  log.info({ path: BPF_FS_ROOT }, `mounted a BPF filesystem at ${BPF_FS_ROOT}: none was mounted`);
  return true;
}

/** The pin directory, made if missing; throws a clear XLB_SETUP error when it is not a usable BPF filesystem path. */
export function makePinDirectory(pinPath: string): void {
  makeDirectories(pinPath, 'node.pin_path', 0o700);
  if (!onBpffs(pinPath)) {
    throw new XlbError('XLB_SETUP', `node.pin_path ${pinPath} is not on a BPF filesystem: maps can only be pinned on one`);
  }
  // A read-only bpffs only shows itself when the first map is pinned, deep inside libbpf: ask now.
  const probe = join(pinPath, `xlb-probe-${process.pid}`); // bpffs refuses names with a dot
  try {
    mkdirSync(probe);
    rmdirSync(probe);
  } catch (err) {
    throw new XlbError('XLB_SETUP', `node.pin_path ${pinPath} cannot be written (${(err as NodeJS.ErrnoException).code})`);
  }
}

/** The exclusive hold of a pin directory; see acquire(). */
export class PinLock {
  private constructor(private fd: number | undefined, readonly path: string) {}

  /** Takes the directory for this process, or throws XLB_CONFLICT naming the daemon that holds it. */
  static acquire(pinPath: string): PinLock {
    const fd = openSync(pinPath, constants.O_RDONLY | constants.O_DIRECTORY);
    let locked = false;
    try {
      locked = tryLockExclusive(fd);
    } finally {
      if (!locked) closeSync(fd);
    }
    if (!locked) {
      const holder = lockHolder(pinPath);
      throw new XlbError('XLB_CONFLICT', `node.pin_path ${pinPath} is in use by another xlb daemon` +
        `${holder ? ` (pid ${holder})` : ''}; stop it first, or give this node its own node.pin_path`);
    }
    return new PinLock(fd, pinPath);
  }

  release(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/** The pid holding an flock on `path`, from /proc/locks (lines like "1: FLOCK ADVISORY WRITE 1234 00:2a:5678 0 EOF"). */
function lockHolder(path: string): number | undefined {
  try {
    const inode = statSync(path).ino;
    for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[1] === 'FLOCK' && Number(f[5]?.split(':')[2]) === inode) return Number(f[4]);
    }
  } catch {
    // who holds it is a courtesy; the refusal stands without it
  }
  return undefined;
}

/**
 * Removes xlb's own pins (`names`) from `pinPath`, then the directory if nothing else is left in it: another tool's
 * pins there are never touched. Returns the names removed.
 */
export function removePins(pinPath: string, names: readonly string[]): string[] {
  const removed: string[] = [];
  for (const name of names) {
    try {
      rmSync(join(pinPath, name));
      removed.push(name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  try {
    rmdirSync(pinPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY') throw err;
  }
  return removed;
}
