// Runs the daemon in this process. Loaded only by the `daemon` verb, so the other verbs never load libbpf.
import type { ArgumentsCamelCase } from 'yargs';
import type { DaemonArgs } from './daemon.js';

export async function daemon(args: ArgumentsCamelCase<DaemonArgs>): Promise<void> {
  const { runDaemon } = await import('../../daemon/main.js');
  const code = await runDaemon({
    configPath: args.config, detachOnExit: args.detachOnExit, verbose: args.verbose, force: args.force,
  });
  // The daemon reports its own errors; lbctl only ends with its exit code, now: a stopped node has nothing left to do,
  // and a client library may keep a timer of a closed connection for seconds (ioredis: up to a reply timeout).
  process.exit(code);
}
