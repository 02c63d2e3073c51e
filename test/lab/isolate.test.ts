// isolateNetwork: the packet tests' own network namespace.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const ISOLATE = fileURLToPath(new URL('../../scripts/lab/isolate.js', import.meta.url));
const SYSTEM = fileURLToPath(new URL('../../lb/bpf/system.js', import.meta.url));

test('isolateNetwork moves the calling thread to a new namespace with only lo', (t) => {
  // In a child process: the namespace change is for good, and this worker's later tests need the host's.
  const script = `
    import fs from 'node:fs';
    const { isolateNetwork } = await import(${JSON.stringify(ISOLATE)});
    const { ifNameToIndex } = await import(${JSON.stringify(SYSTEM)});
    const before = fs.readlinkSync('/proc/thread-self/ns/net');
    isolateNetwork();
    const after = fs.readlinkSync('/proc/thread-self/ns/net');
    console.log(JSON.stringify({ before, after, lo: ifNameToIndex('lo') }));
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
  t.not(out.after, out.before);
  t.is(out.before, fs.readlinkSync('/proc/self/ns/net'));
  t.is(out.lo, 1);
});
