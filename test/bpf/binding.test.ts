// lb/bpf/libbpf.ts against the real kernel, with dist/bpf/binding_fixture.o (bpf/binding_fixture.bpf.c).
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BpfError } from '../../lb/bpf/errors.js';
import { BPF_F_TEST_XDP_LIVE_FRAMES, BPF_MAP_TYPE, MAP_UPDATE, XDP_ACTION, XDP_FLAGS } from '../../lb/bpf/ffi.js';
import { BpfObject, numPossibleCpus } from '../../lb/bpf/object.js';
import { closeFd, ifNameToIndex, lookupFd, objGet, xdpDetach, xdpQueryProgId } from '../../lb/bpf/system.js';
import { privateBpffs } from '../../scripts/lab/mounts.js';

const FIXTURE = fileURLToPath(new URL('../../bpf/binding_fixture.o', import.meta.url));

function opened(t: ExecutionContext): BpfObject {
  const obj = BpfObject.open(FIXTURE);
  t.teardown(() => obj.close());
  return obj;
}

function loaded(t: ExecutionContext): BpfObject {
  const obj = opened(t);
  obj.load();
  return obj;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
}

/** struct fixture_counter { __u32 packets, bytes, last_len; } */
function counter(packets: number, bytes: number, lastLen: number): Buffer {
  return Buffer.concat([u32(packets), u32(bytes), u32(lastLen)]);
}

/** An Ethernet + IPv4 frame's worth of bytes; the fixture only reads its length and rewrites byte 0. */
function frame(length = 64): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => i & 0xff));
}

function unique(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

function expectBpfError(t: ExecutionContext, fn: () => unknown, op: string, code: string): BpfError | undefined {
  const err = t.throws(fn, { instanceOf: BpfError });
  if (!err) return undefined;
  const e = err as BpfError;
  t.is(e.op, op);
  t.is(e.code, code);
  t.true(e.errno > 0, 'errno is positive');
  t.true(e.message.startsWith(`${op}(`), e.message);
  t.true(e.message.includes(`(${code})`), e.message);
  return e;
}

test('numPossibleCpus matches the kernel', (t) => {
  const possible = fs.readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
  let count = 0;
  for (const range of possible.split(',')) {
    const [lo, hi = lo] = range.split('-').map(Number);
    count += hi! - lo! + 1;
  }
  t.is(numPossibleCpus(), count);
});

test('an opened object tells map layouts before load; fds exist only after', (t) => {
  const obj = opened(t);
  t.is(obj.name, 'binding_fixture');
  const maps = obj.maps();
  t.deepEqual(
    maps.map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries, m.isPerCpu()]).sort(),
    [
      ['fixture_config', BPF_MAP_TYPE.ARRAY, 4, 4, 4, false],
      ['fixture_counters', BPF_MAP_TYPE.PERCPU_ARRAY, 4, 12, 1, true],
      ['fixture_devmap', BPF_MAP_TYPE.DEVMAP_HASH, 4, 4, 8, false],
      ['fixture_hash', BPF_MAP_TYPE.HASH, 8, 12, 64, false],
    ],
  );
  t.true(obj.map('fixture_hash') === maps.find((m) => m.name === 'fixture_hash'), 'one wrapper per map');
  t.deepEqual(
    obj.programs().map((p) => p.name),
    ['fixture_xdp', 'fixture_rejected'],
  );
  const err = expectBpfError(t, () => obj.map('fixture_hash').fd, 'bpf_map__fd', 'EBADF');
  t.regex(err?.message ?? '', /not loaded/);
  expectBpfError(t, () => obj.program('fixture_xdp').fd, 'bpf_program__fd', 'ENOENT');

  obj.map('fixture_hash').setMaxEntries(100);
  obj.load();
  t.is(obj.map('fixture_hash').maxEntries, 100);
  t.true(obj.map('fixture_hash').fd > 0);
  t.true(obj.program('fixture_xdp').fd > 0);
  expectBpfError(t, () => obj.map('fixture_hash').setMaxEntries(10), 'bpf_map__set_max_entries', 'EBUSY');
});

test('open of a missing file is ENOENT naming the path', (t) => {
  const path = `/nonexistent/${unique('x')}.o`;
  const err = expectBpfError(t, () => BpfObject.open(path), 'bpf_object__open_file', 'ENOENT');
  t.is(err?.message, `bpf_object__open_file(${path}): No such file or directory (ENOENT)`);
  t.is(err?.object, path);
});

test('a missing map or program is ENOENT naming it and listing what there is', (t) => {
  const obj = opened(t);
  const map = expectBpfError(t, () => obj.map('no_such_map'), 'bpf_object__find_map_by_name', 'ENOENT');
  t.true(map?.message.startsWith('bpf_object__find_map_by_name(no_such_map): No such file or directory (ENOENT)'));
  for (const name of ['fixture_config', 'fixture_hash', 'fixture_counters', 'fixture_devmap']) {
    t.true(map?.message.includes(name), `lists ${name}`);
  }
  const prog = expectBpfError(t, () => obj.program('no_such_prog'), 'bpf_object__find_program_by_name', 'ENOENT');
  t.regex(prog?.message ?? '', /no program no_such_prog; it has fixture_xdp, fixture_rejected/);
});

test('hash map: update, lookup, keys and delete round trip', (t) => {
  const hash = loaded(t).map('fixture_hash');
  t.deepEqual(hash.keys(), []);
  t.is(hash.lookup(u64(1n)), undefined);

  const entries = [1n, 2n, 0xffff_ffff_ffffn].map((k, i) => [u64(k), Buffer.alloc(12, i + 1)] as const);
  for (const [key, value] of entries) hash.update(key, value);
  for (const [key, value] of entries) t.deepEqual(hash.lookup(key), value);
  const sorted = (keys: Buffer[]) => keys.map((k) => k.toString('hex')).sort();
  t.deepEqual(sorted(hash.keys()), sorted(entries.map(([k]) => k)));

  hash.update(entries[0][0], Buffer.alloc(12, 9));
  t.deepEqual(hash.lookup(entries[0][0]), Buffer.alloc(12, 9), 'BPF_ANY overwrites');

  t.true(hash.delete(entries[1][0]));
  t.false(hash.delete(entries[1][0]), 'a second delete finds nothing');
  t.is(hash.lookup(entries[1][0]), undefined);
  t.is(hash.keys().length, 2);
});

test('array map: every index exists, keys are all indexes, delete is EINVAL', (t) => {
  const config = loaded(t).map('fixture_config');
  t.deepEqual(hash(config.keys()), ['00000000', '01000000', '02000000', '03000000']);
  t.deepEqual(config.lookup(u32(3)), u32(0));
  config.update(u32(3), u32(77));
  t.deepEqual(config.lookup(u32(3)), u32(77));
  t.is(config.lookup(u32(4)), undefined, 'past max_entries is absent');
  expectBpfError(t, () => config.delete(u32(0)), 'bpf_map_delete_elem', 'EINVAL');

  function hash(keys: Buffer[]) {
    return keys.map((k) => k.toString('hex'));
  }
});

test('updateBatch writes many entries in one call, in order; sizes are checked; the kernel says how many it wrote', (t) => {
  const obj = loaded(t);
  const config = obj.map('fixture_config');
  config.updateBatch(Buffer.concat([u32(1), u32(3), u32(1)]), Buffer.concat([u32(10), u32(30), u32(11)]));
  t.deepEqual([0, 1, 2, 3].map((i) => config.lookup(u32(i))!.readUInt32LE(0)), [0, 11, 0, 30], 'the later write of 1 wins');

  const hash = obj.map('fixture_hash');
  hash.updateBatch(Buffer.concat([u64(5n), u64(6n)]), Buffer.concat([Buffer.alloc(12, 5), Buffer.alloc(12, 6)]));
  t.deepEqual(hash.lookup(u64(6n)), Buffer.alloc(12, 6));
  hash.updateBatch(Buffer.alloc(0), Buffer.alloc(0));

  const counters = obj.map('fixture_counters');
  const cpus = numPossibleCpus();
  counters.updateBatch(u32(0), Buffer.concat(Array.from({ length: cpus }, (_, cpu) => Buffer.concat([counter(cpu, 2, 3), Buffer.alloc(4)]))));
  t.deepEqual(counters.lookupPerCpu(u32(0)).map((v) => v.readUInt32LE(0)), Array.from({ length: cpus }, (_, cpu) => cpu));

  const err = expectBpfError(t, () => config.updateBatch(Buffer.concat([u32(0), u32(1)]), u32(5)), 'bpf_map_update_batch', 'EINVAL');
  t.regex(err?.message ?? '', /not as many whole entries/);
  const partial = expectBpfError(t, () => config.updateBatch(Buffer.concat([u32(2), u32(9)]), Buffer.concat([u32(20), u32(90)])),
    'bpf_map_update_batch', 'E2BIG');
  t.regex(partial?.message ?? '', /1 of 2 entries written/);
  t.deepEqual(config.lookup(u32(2)), u32(20), 'the entries before the failing one are written');
  expectBpfError(t, () => obj.map('fixture_devmap').updateBatch(u32(1), u32(1)), 'bpf_map_update_batch', 'ENOTSUPP');
});

test('devmap hash: holds an ifindex', (t) => {
  const devmap = loaded(t).map('fixture_devmap');
  const lo = ifNameToIndex('lo');
  devmap.update(u32(7), u32(lo));
  t.deepEqual(devmap.lookup(u32(7)), u32(lo));
  t.deepEqual(devmap.keys(), [u32(7)]);
});

const sizeErrors = [
  { what: 'a short key', key: u32(1), value: Buffer.alloc(12), detail: 'key is 4 bytes, the map\'s keys are 8' },
  { what: 'a long key', key: Buffer.alloc(9), value: Buffer.alloc(12), detail: 'key is 9 bytes, the map\'s keys are 8' },
  { what: 'a short value', key: u64(1n), value: Buffer.alloc(8), detail: 'value is 8 bytes, the map\'s values are 12' },
];
for (const c of sizeErrors) {
  test(`update with ${c.what} is EINVAL naming the map and both sizes`, (t) => {
    const hash = loaded(t).map('fixture_hash');
    const err = expectBpfError(t, () => hash.update(c.key, c.value), 'bpf_map_update_elem', 'EINVAL');
    t.is(err?.message, `bpf_map_update_elem(fixture_hash): Invalid argument (EINVAL): ${c.detail}`);
    t.is(hash.keys().length, 0, 'nothing was written');
  });
}

test('lookup and delete check the key size too', (t) => {
  const hash = loaded(t).map('fixture_hash');
  expectBpfError(t, () => hash.lookup(u32(1)), 'bpf_map_lookup_elem', 'EINVAL');
  expectBpfError(t, () => hash.delete(u32(1)), 'bpf_map_delete_elem', 'EINVAL');
});

test('update flags: NOEXIST on an existing key is EEXIST, EXIST on a missing one ENOENT', (t) => {
  const hash = loaded(t).map('fixture_hash');
  hash.update(u64(5n), Buffer.alloc(12, 1), MAP_UPDATE.NOEXIST);
  const err = expectBpfError(
    t,
    () => hash.update(u64(5n), Buffer.alloc(12, 2), MAP_UPDATE.NOEXIST),
    'bpf_map_update_elem',
    'EEXIST',
  );
  t.is(err?.message, 'bpf_map_update_elem(fixture_hash): File exists (EEXIST)');
  t.is(err?.errno, 17);
  t.deepEqual(hash.lookup(u64(5n)), Buffer.alloc(12, 1), 'the first value stays');
  expectBpfError(t, () => hash.update(u64(6n), Buffer.alloc(12), MAP_UPDATE.EXIST), 'bpf_map_update_elem', 'ENOENT');
  hash.update(u64(5n), Buffer.alloc(12, 3), MAP_UPDATE.EXIST);
  t.deepEqual(hash.lookup(u64(5n)), Buffer.alloc(12, 3));
});

test('per-CPU map: counters written by test runs sum to the runs; plain lookup refuses', (t) => {
  const obj = loaded(t);
  const counters = obj.map('fixture_counters');
  const prog = obj.program('fixture_xdp');
  const runs = [{ repeat: 5, len: 64 }, { repeat: 1, len: 100 }, { repeat: 10, len: 60 }];
  for (const r of runs) prog.testRun({ data: frame(r.len), repeat: r.repeat });

  const perCpu = counters.lookupPerCpu(u32(0));
  t.is(perCpu.length, numPossibleCpus());
  t.true(perCpu.every((v) => v.length === 12));
  const sum = (offset: number) => perCpu.reduce((n, v) => n + v.readUInt32LE(offset), 0);
  t.is(sum(0), 16, 'packets');
  t.is(sum(4), 5 * 64 + 100 + 10 * 60, 'bytes');

  expectBpfError(t, () => counters.lookup(u32(0)), 'bpf_map_lookup_elem', 'EINVAL');
  expectBpfError(t, () => counters.update(u32(0), counter(0, 0, 0)), 'bpf_map_update_elem', 'EINVAL');
  expectBpfError(t, () => obj.map('fixture_hash').lookupPerCpu(u64(0n)), 'bpf_map_lookup_elem', 'EINVAL');
});

test('per-CPU map: updatePerCpu writes each CPU its own value (12-byte values in 16-byte slots)', (t) => {
  const counters = loaded(t).map('fixture_counters');
  const values = Array.from({ length: numPossibleCpus() }, (_, cpu) => counter(cpu + 1, 1000 + cpu, 0xabcdef00 + cpu));
  counters.updatePerCpu(u32(0), values);
  t.deepEqual(counters.lookupPerCpu(u32(0)), values);

  const err = expectBpfError(
    t,
    () => counters.updatePerCpu(u32(0), values.slice(1)),
    'bpf_map_update_elem',
    'EINVAL',
  );
  t.regex(err?.message ?? '', /one per possible CPU/);
  expectBpfError(
    t,
    () => counters.updatePerCpu(u32(0), values.map(() => Buffer.alloc(16))),
    'bpf_map_update_elem',
    'EINVAL',
  );
});

test('testRun returns the verdict and the frame as the program left it', (t) => {
  const obj = loaded(t);
  const prog = obj.program('fixture_xdp');
  const input = frame(64);

  const pass = prog.testRun({ data: input });
  t.is(pass.retval, XDP_ACTION.PASS);
  t.is(pass.data.length, 64);
  t.is(pass.data[0], 0xee, 'the program stamps byte 0');
  t.deepEqual(pass.data.subarray(1), input.subarray(1));
  t.is(input[0], 0, 'the input is not modified');
  t.true(Number.isInteger(pass.duration) && pass.duration >= 0);

  obj.map('fixture_config').update(u32(0), u32(XDP_ACTION.DROP));
  t.is(prog.testRun({ data: input, repeat: 3 }).retval, XDP_ACTION.DROP);
  obj.map('fixture_config').update(u32(0), u32(XDP_ACTION.TX));
  t.is(prog.testRun({ data: input, dataOutSize: 64 }).retval, XDP_ACTION.TX);
});

test('testRun errors: an output buffer too small is ENOSPC, a frame shorter than Ethernet EINVAL', (t) => {
  const prog = loaded(t).program('fixture_xdp');
  const err = expectBpfError(
    t,
    () => prog.testRun({ data: frame(64), dataOutSize: 32 }),
    'bpf_prog_test_run_opts',
    'ENOSPC',
  );
  t.regex(err?.message ?? '', /^bpf_prog_test_run_opts\(fixture_xdp\): .*the output frame is 64 bytes, dataOutSize is 32/);
  expectBpfError(t, () => prog.testRun({ data: frame(10) }), 'bpf_prog_test_run_opts', 'EINVAL');
});

test('testRun with live frames runs the program and returns no data', (t) => {
  const obj = loaded(t);
  obj.map('fixture_config').update(u32(0), u32(XDP_ACTION.DROP));
  const r = obj.program('fixture_xdp').testRun({
    data: frame(64),
    repeat: 20,
    flags: BPF_F_TEST_XDP_LIVE_FRAMES,
    batchSize: 4,
  });
  t.is(r.data.length, 0);
  const packets = obj
    .map('fixture_counters')
    .lookupPerCpu(u32(0))
    .reduce((n, v) => n + v.readUInt32LE(0), 0);
  t.is(packets, 20);
});

test('load: a program the verifier rejects fails with the end of its verifier log', (t) => {
  const obj = opened(t);
  obj.program('fixture_rejected').setAutoload(true);
  const err = expectBpfError(t, () => obj.load(), 'bpf_object__load', 'EACCES');
  const message = err?.message ?? '';
  t.true(message.startsWith('bpf_object__load(binding_fixture): Permission denied (EACCES): program fixture_rejected'));
  t.regex(message, /invalid access to packet/);
  t.true(message.split('\n').length <= 21, 'at most 20 lines of log');
});

test('a closed object refuses further use instead of touching freed memory; close is idempotent', (t) => {
  const obj = BpfObject.open(FIXTURE);
  obj.load();
  const hash = obj.map('fixture_hash');
  const prog = obj.program('fixture_xdp');
  obj.close();
  obj.close();
  const err = expectBpfError(t, () => hash.lookup(u64(1n)), 'bpf_map_lookup_elem', 'EBADF');
  t.is(err?.message, 'bpf_map_lookup_elem(fixture_hash): Bad file descriptor (EBADF): object binding_fixture is closed');
  expectBpfError(t, () => hash.keySize, 'bpf_map__key_size', 'EBADF');
  expectBpfError(t, () => prog.testRun({ data: frame() }), 'bpf_prog_test_run_opts', 'EBADF');
  expectBpfError(t, () => obj.map('fixture_hash'), 'bpf_object__find_map_by_name', 'EBADF');
});

test('pinning: setPinPath shares a map between objects, objGet/reuseFd reuse it', async (t) => {
  const dir = await privateBpffs(t);
  const path = `${dir}/fixture_hash`;

  const first = opened(t);
  first.map('fixture_hash').setPinPath(path);
  first.load();
  t.true(fs.existsSync(path), 'load pinned the map');
  first.map('fixture_hash').update(u64(42n), Buffer.alloc(12, 4));

  const second = opened(t);
  second.map('fixture_hash').setPinPath(path);
  second.load();
  t.deepEqual(second.map('fixture_hash').lookup(u64(42n)), Buffer.alloc(12, 4), 'load reused the pinned map');

  const fd = objGet(path);
  t.true(fd > 0);
  try {
    const third = opened(t);
    third.map('fixture_hash').reuseFd(fd);
    third.load();
    t.deepEqual(third.map('fixture_hash').lookup(u64(42n)), Buffer.alloc(12, 4), 'reuseFd shares the map');
    const value = Buffer.alloc(12);
    t.true(lookupFd(fd, u64(42n), value), 'lookupFd reads the pinned map by its fd');
    t.deepEqual(value, Buffer.alloc(12, 4));
    t.false(lookupFd(fd, u64(43n), value), 'and says when a key is absent');
  } finally {
    closeFd(fd);
  }
  expectBpfError(t, () => lookupFd(fd, u64(42n), Buffer.alloc(12)), 'bpf_map_lookup_elem', 'EBADF');

  expectBpfError(t, () => objGet(`${dir}/nothing`), 'bpf_obj_get', 'ENOENT');
});

test('a map pinned with other parameters makes load fail instead of being reused', async (t) => {
  const dir = await privateBpffs(t);
  const path = `${dir}/fixture_hash`;
  const first = opened(t);
  first.map('fixture_hash').setPinPath(path);
  first.load();

  const second = opened(t);
  second.map('fixture_hash').setPinPath(path);
  second.map('fixture_hash').setMaxEntries(32);
  expectBpfError(t, () => second.load(), 'bpf_object__load', 'EINVAL');
});

test('closeFd of a closed fd is EBADF', (t) => {
  const fd = fs.openSync('/dev/null', 'r');
  closeFd(fd);
  const err = expectBpfError(t, () => closeFd(fd), 'close', 'EBADF');
  t.is(err?.message, `close(fd ${fd}): Bad file descriptor (EBADF)`);
});

test('ifNameToIndex finds lo and names an unknown interface', (t) => {
  t.is(ifNameToIndex('lo'), Number(fs.readFileSync('/sys/class/net/lo/ifindex', 'utf8')));
  const name = unique('nx');
  const err = expectBpfError(t, () => ifNameToIndex(name), 'if_nametoindex', 'ENODEV');
  t.is(err?.message, `if_nametoindex(${name}): No such device (ENODEV)`);
});

test('XDP attach, query and detach on a veth pair', (t) => {
  const base = unique('xlbt');
  const [a, b] = [`${base}a`, `${base}b`];
  execFileSync('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  t.teardown(() => execFileSync('ip', ['link', 'del', a]));
  const ifindex = ifNameToIndex(a);
  t.is(ifindex, Number(fs.readFileSync(`/sys/class/net/${a}/ifindex`, 'utf8')));

  const prog = loaded(t).program('fixture_xdp');
  t.is(xdpQueryProgId(ifindex, 0), 0, 'nothing attached yet');

  prog.attachXdp(ifindex, XDP_FLAGS.DRV_MODE | XDP_FLAGS.UPDATE_IF_NOEXIST);
  t.true(prog.id > 0);
  t.is(xdpQueryProgId(ifindex, 0), prog.id);
  t.is(xdpQueryProgId(ifindex, XDP_FLAGS.DRV_MODE), prog.id);
  t.is(xdpQueryProgId(ifindex, XDP_FLAGS.SKB_MODE), 0);
  t.regex(execFileSync('ip', ['link', 'show', a], { encoding: 'utf8' }), new RegExp(`xdp.*id ${prog.id}`, 's'));

  const busy = expectBpfError(
    t,
    () => prog.attachXdp(ifindex, XDP_FLAGS.DRV_MODE | XDP_FLAGS.UPDATE_IF_NOEXIST),
    'bpf_xdp_attach',
    'EBUSY',
  );
  t.true(busy?.message.startsWith(`bpf_xdp_attach(fixture_xdp on ifindex ${ifindex}): `));

  xdpDetach(ifindex, XDP_FLAGS.DRV_MODE);
  t.is(xdpQueryProgId(ifindex, 0), 0);

  prog.attachXdp(ifindex, XDP_FLAGS.SKB_MODE);
  t.is(xdpQueryProgId(ifindex, XDP_FLAGS.SKB_MODE), prog.id);
  xdpDetach(ifindex, XDP_FLAGS.SKB_MODE);
  t.is(xdpQueryProgId(ifindex, 0), 0);
});

test('XDP on an interface that does not exist: attach and detach fail naming the ifindex, query answers 0', (t) => {
  const prog = loaded(t).program('fixture_xdp');
  const missing = 0x7ffffff0;
  const err = expectBpfError(t, () => prog.attachXdp(missing, XDP_FLAGS.SKB_MODE), 'bpf_xdp_attach', 'ENODEV');
  t.true(err?.message.startsWith(`bpf_xdp_attach(fixture_xdp on ifindex ${missing}): No such device (ENODEV)`));
  expectBpfError(t, () => xdpDetach(missing, XDP_FLAGS.SKB_MODE), 'bpf_xdp_detach', 'ENODEV');
  // libbpf 1.1 dumps all links and filters by ifindex, so an unknown one is just "nothing attached".
  t.is(xdpQueryProgId(missing, 0), 0);
});

