// Packet tests run in a network namespace of their own: bpf_fib_lookup answers from the namespace of the thread that
// runs the program, so the host's routes and forwarding settings must not leak into expected frames.
import { unshareNetwork } from '../../lb/bpf/libbpf.js';

let isolated = false;

/** Moves this process's main thread (the one that runs BPF_PROG_TEST_RUN and spawns commands) to a new, empty one. */
export function isolateNetwork(): void {
  if (isolated) return;
  unshareNetwork();
  isolated = true;
}
