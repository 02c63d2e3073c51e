// lb/bpf/layout.ts against bpf/xlb_layout.h, as the compiler laid it out: the BTF in the built object.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfObject } from '../../lb/bpf/object.js';
import * as layout from '../../lb/bpf/layout.js';
import { OBJECT_PATH } from '../../lb/dataplane/dataplane.js';

interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  members?: { name: string; type_id: number; bits_offset: number }[];
  values?: { name: string; val: number }[];
  nr_elems?: number;
}

function btfOf(object: string): BtfType[] {
  return JSON.parse(execFileSync('bpftool', ['btf', 'dump', 'file', object, 'format', 'raw', '-j'], { encoding: 'utf8' })).types;
}

// The layouts as the compiler lays out bpf/xlb_layout.h for the BPF target: a probe object that names every struct
// (the program uses some only through pointers, and its enumerators only as constants, so its own BTF lacks them).
// The built object's map key and value sizes are checked against the same layouts below.
const probeDir = mkdtempSync(join(tmpdir(), 'xlb-layout-'));
const probeSource = [
  '#include "xlb_layout.h"',
  ...layout.LAYOUTS.map((l) => `${l.cName === 'xlb_addr' ? 'union' : 'struct'} ${l.cName} probe_${l.cName};`),
  'enum xlb_outcome probe_outcome;',
].join('\n');
writeFileSync(join(probeDir, 'probe.c'), `${probeSource}\n`);
execFileSync('clang', ['-g', '-target', 'bpf', '-I', fileURLToPath(new URL('../../../bpf', import.meta.url)),
  '-I', `/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
  '-c', join(probeDir, 'probe.c'), '-o', join(probeDir, 'probe.o')]);
const btf = btfOf(join(probeDir, 'probe.o'));
rmSync(probeDir, { recursive: true, force: true });
const byId = new Map(btf.map((t) => [t.id, t]));

function sizeOf(id: number): number {
  const t = byId.get(id)!;
  if (t.kind === 'ARRAY') {
    const arr = t as unknown as { type_id: number; nr_elems: number };
    return sizeOf(arr.type_id) * arr.nr_elems;
  }
  if (t.size !== undefined) return t.size;
  return sizeOf(t.type_id!);
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

for (const l of layout.LAYOUTS) {
  test(`${l.cName}: size and every field's offset and width match the C struct`, (t) => {
    const c = btf.find((x) => (x.kind === 'STRUCT' || x.kind === 'UNION') && x.name === l.cName);
    if (!c) return t.fail(`struct ${l.cName} is not in the object's BTF`);
    t.is(c.size, l.size, 'size');
    for (const f of l.fields) {
      const m = c.members!.find((x) => x.name === snake(f.name));
      if (!m) {
        t.fail(`${l.cName} has no member ${snake(f.name)}`);
        continue;
      }
      t.is(f.offset * 8, m.bits_offset, `${f.name} offset`);
      t.is(layout.FIELD_SIZE[f.type], sizeOf(m.type_id), `${f.name} width`);
    }
    // Every C member but padding is mirrored.
    const mirrored = new Set(l.fields.map((f) => snake(f.name)));
    t.deepEqual(c.members!.map((m) => m.name).filter((n) => !n.startsWith('pad') && !mirrored.has(n)), []);
  });
}

test('the outcome names follow enum xlb_outcome, in order', (t) => {
  const e = btf.find((x) => x.kind === 'ENUM' && x.name === 'xlb_outcome');
  if (!e) return t.fail('enum xlb_outcome is not in the BTF');
  const names = e.values!.filter((v) => v.name !== 'XLB_OUTCOME_MAX').sort((a, b) => a.val - b.val).map((v) => v.name);
  t.deepEqual(layout.OUTCOMES.map(layout.outcomeEnumerator), names);
});

test('README lists every outcome in "Data plane outcomes", in order, and every drop among the metrics\' reasons', (t) => {
  const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  const section = readme.slice(readme.indexOf('### Data plane outcomes\n'), readme.indexOf('\n## Config\n'));
  t.deepEqual([...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]), [...layout.OUTCOMES]);
  const reasons = /^\| `xlb_drops_total` \|.*\(([^)]*)\) \|$/m.exec(readme)?.[1] ?? '';
  t.deepEqual([...reasons.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]),
    layout.OUTCOMES.filter((o) => o.startsWith('drop_')).map((o) => o.slice('drop_'.length)));
});

test('every map has the key and value sizes of the layouts the control plane uses for it', (t) => {
  const object = BpfObject.open(OBJECT_PATH);
  t.teardown(() => object.close());
  const expect: Record<string, [number, number]> = {
    [layout.MAPS.services]: [layout.serviceKey.size, layout.service.size],
    [layout.MAPS.vips]: [16, 4],
    [layout.MAPS.local]: [16, 4],
    [layout.MAPS.tables]: [4, 4],
    [layout.MAPS.backends]: [4, layout.backend.size],
    [layout.MAPS.rrCursor]: [4, 4],
    [layout.MAPS.flows]: [layout.flowKey.size, layout.flow.size],
    [layout.MAPS.newFlows]: [4, 8 * layout.NEW_FLOW_WAYS],
    [layout.MAPS.filter]: [4, 8],
    [layout.MAPS.reverse]: [layout.reverseKey.size, layout.reverse.size],
    [layout.MAPS.egress]: [4, 8],
    [layout.MAPS.serviceStats]: [4, layout.counters.size],
    [layout.MAPS.backendStats]: [4, layout.counters.size],
    [layout.MAPS.outcomes]: [4, layout.counters.size],
    [layout.MAPS.deny]: [layout.denyKey.size, 4],
    [layout.MAPS.allow]: [layout.allowKey.size, 4],
    [layout.MAPS.events]: [0, 0],
    [layout.MAPS.eventBudget]: [4, layout.eventBudget.size],
    [layout.MAPS.settings]: [4, layout.settings.size],
    [layout.MAPS.owned]: [16, layout.owned.size],
    [layout.MAPS.ifaces]: [4, layout.iface.size],
    [layout.MAPS.ha]: [4, layout.ha.size],
  };
  t.deepEqual(Object.keys(expect).sort(), object.maps().map((m) => m.name).filter((n) => !n.startsWith('.')).sort());
  for (const [name, [key, value]] of Object.entries(expect)) {
    const m = object.map(name);
    t.deepEqual([m.keySize, m.valueSize], [key, value], name);
  }
  t.is(object.map(layout.MAPS.outcomes).maxEntries, layout.OUTCOMES.length);
  t.is(object.map(layout.MAPS.ha).maxEntries, 1);
  t.deepEqual(object.programs().map((p) => p.name).sort(), [layout.PROGRAM, layout.SEND_PROGRAM].sort());
});

test('the HA deadlines encode as u64 nanoseconds, little-endian, the flag after them', (t) => {
  const bytes = layout.ha.encode({ forwardUntilNs: (1n << 63n) + 5n, arpUntilNs: 7n, flags: layout.HA_ON });
  t.is(bytes.toString('hex'), '0500000000000080' + '0700000000000000' + '01000000' + '00000000');
  t.deepEqual(layout.ha.decode(bytes), { forwardUntilNs: (1n << 63n) + 5n, arpUntilNs: 7n, flags: layout.HA_ON });
  t.is(layout.iface.encode({ mac: '02:1b:00:00:00:01' }).toString('hex'), '021b000000010000');
});

test('encode and decode are inverse, and addresses sit in the first word of the 16', (t) => {
  const b: layout.Backend = {
    addr: '198.18.1.11', port: 8080, flags: layout.BE_ALIVE, gen: 3, ifindex: 7, mac: '02:be:c6:12:01:0b', srcMac: '02:1b:00:00:00:01',
    service: 9,
  };
  const bytes = layout.backend.encode(b);
  t.deepEqual(layout.backend.decode(bytes), b);
  t.deepEqual([...bytes.subarray(0, 18)], [198, 18, 1, 11, ...Array(12).fill(0), 0x1f, 0x90]);
  t.throws(() => layout.backend.encode({ ...b, addr: '300.1.2.3' }), { message: '"300.1.2.3" is not an IPv4 address' });
});
