// A private mount namespace, held open by a sleeping process, for what touches /sys/fs/bpf: inside it /sys/fs/bpf
// starts unmounted, as on a fresh machine (or with a fresh BPF filesystem of its own), and whatever is pinned there
// goes when the namespace does. Nothing is mounted or pinned on the host.
//
//   const m = await MountNamespace.create({ bpffs: true });
//   m.path('/sys/fs/bpf')        // the same directory, as this process reaches it (/proc/PID/root/...)
//   ['nsenter', `--mount=${m.nsPath}`, ...]
//   await m.close();
import { spawn, type ChildProcess } from 'node:child_process';

const READY_MS = 10_000;

export interface MountNamespaceOptions {
  /** Mount a BPF filesystem of its own at /sys/fs/bpf; otherwise leave none there. */
  bpffs: boolean;
}

export class MountNamespace {
  private constructor(private readonly holder: ChildProcess, readonly pid: number) {}

  static async create(options: MountNamespaceOptions): Promise<MountNamespace> {
    const script = [
      'set -e',
      // A host that has bpffs mounted (perhaps more than once) keeps it; this namespace does not.
      'while mountpoint -q /sys/fs/bpf; do umount /sys/fs/bpf; done',
      ...(options.bpffs ? ['mount -t bpf -o mode=0700 bpf /sys/fs/bpf'] : []),
      'echo ready',
      'exec sleep infinity',
    ].join('\n');
    const holder = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '--mount', '--propagation', 'private', '--',
      'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => fail(new Error(`mount namespace: not ready after ${READY_MS} ms: ${err}`)), READY_MS);
      const fail = (e: Error) => {
        clearTimeout(timer);
        holder.kill('SIGKILL');
        reject(e);
      };
      holder.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('ready\n')) {
          clearTimeout(timer);
          resolve();
        }
      });
      holder.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
      holder.once('exit', (code) => fail(new Error(`mount namespace: holder exited (${code}): ${err.trim()}`)));
      holder.once('error', fail);
    });
    holder.removeAllListeners('exit');
    return new MountNamespace(holder, holder.pid!);
  }

  /** For nsenter --mount. */
  get nsPath(): string {
    return `/proc/${this.pid}/ns/mnt`;
  }

  /** `path` inside the namespace, as this process (outside it) reaches it. */
  path(path: string): string {
    return `/proc/${this.pid}/root${path}`;
  }

  /** Ends the holder; the namespace (and what is pinned in it) goes once nothing else runs in it. */
  async close(): Promise<void> {
    if (this.holder.exitCode !== null || this.holder.signalCode !== null) return;
    const exited = new Promise((resolve) => this.holder.once('exit', resolve));
    this.holder.kill('SIGKILL');
    await exited;
  }

  /** close() without waiting, for exit handlers. */
  closeSync(): void {
    this.holder.kill('SIGKILL');
  }
}

/** A directory on a fresh, private BPF filesystem for the test; gone at its teardown. */
export async function privateBpffs(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const mounts = await MountNamespace.create({ bpffs: true });
  t.teardown(() => mounts.close());
  return mounts.path('/sys/fs/bpf');
}
