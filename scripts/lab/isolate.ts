// Packet tests run in a network namespace of their own: bpf_fib_lookup answers from the namespace of the thread that
// runs the program, so the host's routes and forwarding settings must not leak into expected frames.
import os from 'node:os';
import { BpfError, lastErrno } from '../../lb/bpf/errors.js';
import { c } from '../../lb/bpf/ffi.js';

const CLONE_NEWNET = 0x40000000;
let isolated = false;

/**
 * Moves this process's main thread (the one that runs BPF_PROG_TEST_RUN and spawns commands) to a new, empty network
 * namespace (only a loopback, down); if_nametoindex and child processes spawned afterwards see it too.
 */
export function isolateNetwork(): void {
  if (isolated) return;
  if (c.unshare(CLONE_NEWNET) < 0) {
    throw new BpfError('unshare', lastErrno(os.constants.errno.EINVAL), { object: 'CLONE_NEWNET' });
  }
  isolated = true;
}
