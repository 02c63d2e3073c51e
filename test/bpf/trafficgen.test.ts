// The bench's traffic generator (bpf/trafficgen.bpf.c), one frame at a time through BPF_PROG_TEST_RUN: each run is the
// next flow (source port, then source address), with a valid IPv4 checksum, whatever the frame held before.
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { u32Key } from '../../lb/bpf/layout.js';
import { BpfObject } from '../../lb/bpf/object.js';
import { currentCpu, pinThread, setThreadAffinity, threadAffinity } from '../../lb/bpf/system.js';
import { buildFrame, checksumsValid, parseFrame } from '../../scripts/lab/frames.js';

const OBJ = fileURLToPath(new URL('../../bpf/trafficgen.o', import.meta.url));

const template = buildFrame({
  srcMac: '02:c1:00:00:00:01', dstMac: '02:1b:00:00:00:01', src: '198.18.0.16', dst: '198.18.100.10', proto: 'udp',
  sport: 1024, dport: 9000, payload: Buffer.from('xlb-bench-payload!'), udpChecksum: false, padTo: 60,
});

test('frames go through the ports, then the addresses, and around; checksums stay valid', (t) => {
  const obj = BpfObject.open(OBJ);
  // The frame counter is per CPU: every run on this one.
  const affinity = threadAffinity();
  pinThread(currentCpu());
  t.teardown(() => {
    obj.close();
    setThreadAffinity(affinity);
  });
  obj.load();
  obj.map('template').update(u32Key(0), template.subarray(0, obj.map('template').valueSize));
  const flows = Buffer.alloc(8);
  flows.writeUInt32LE(3, 0); // ports
  flows.writeUInt32LE(4, 4); // addresses
  obj.map('flows').update(u32Key(0), flows);

  const program = obj.program('xlb_trafficgen');
  const sent = Array.from({ length: 14 }, (_, i) => {
    // Whatever a receiver left in the page: the generator writes every header afresh.
    const stale = i % 2 ? buildFrame({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', sport: 1, dport: 2, padTo: 60 }) : template;
    const r = program.testRun({ data: stale });
    t.is(r.retval, 3, 'XDP_TX');
    t.deepEqual(checksumsValid(r.data), { ip: true, l4: true });
    const f = parseFrame(r.data);
    return `${f.src}:${f.sport}`;
  });
  // Flows 0..13: port 1024 + n % 3, address .16 + n / 3 % 4.
  t.deepEqual(sent, Array.from({ length: 14 }, (_, n) => {
    return `198.18.0.${16 + (Math.floor(n / 3) % 4)}:${1024 + (n % 3)}`;
  }));
});
