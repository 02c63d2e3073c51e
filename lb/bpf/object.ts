// libbpf's objects, maps and programs as typed classes; keys and values are Buffers laid out by layout.ts.
import os from 'node:os';
import { BPF_F_TEST_XDP_LIVE_FRAMES, BPF_MAP_TYPE, c, MAP_UPDATE, TEST_RUN_OPTS_SIZE, type Ptr, type TestRunAttr } from './ffi.js';
import { BpfError, check, lastErrno } from './errors.js';

const { EBADF, EINVAL, ENOENT, ENOSPC } = os.constants.errno;

const PER_CPU_TYPES: ReadonlySet<number> = new Set([
  BPF_MAP_TYPE.PERCPU_ARRAY,
  BPF_MAP_TYPE.PERCPU_HASH,
  BPF_MAP_TYPE.LRU_PERCPU_HASH,
]);

let possibleCpus: number | undefined;

/** Possible CPUs (not online ones): the number of slots in every per-CPU map value. */
export function numPossibleCpus(): number {
  possibleCpus ??= check('libbpf_num_possible_cpus', c.libbpf_num_possible_cpus());
  return possibleCpus;
}

/** What maps and programs share with their object: pointers into it die with bpf_object__close. */
interface Owner {
  readonly name: string;
  closed: boolean;
}

function live(owner: Owner, op: string, object: string): void {
  if (owner.closed) throw new BpfError(op, EBADF, { object, detail: `object ${owner.name} is closed` });
}

// The kernel keeps the tail of an overflowing verifier log, so the error, at the end, survives; libbpf's own default
// is the same 16 MiB. Allocated uninitialised: only the pages the verifier writes are ever touched.
const VERIFIER_LOG_SIZE = 16 << 20;
const VERIFIER_LOG_LINES = 20;

export class BpfObject {
  readonly name: string;
  readonly #owner: Owner;
  readonly #ptr: Ptr;
  readonly #maps = new Map<Ptr, BpfMap>();
  readonly #programs = new Map<Ptr, BpfProgram>();

  private constructor(ptr: Ptr) {
    this.#ptr = ptr;
    this.name = c.bpf_object__name(ptr);
    this.#owner = { name: this.name, closed: false };
  }

  /** Parses the ELF object; nothing reaches the kernel until load(). */
  static open(path: string): BpfObject {
    const ptr = c.bpf_object__open_file(path, null);
    if (ptr === null) throw new BpfError('bpf_object__open_file', lastErrno(EINVAL), { object: path });
    return new BpfObject(ptr);
  }

  /**
   * Creates (or reuses pinned) maps and loads the programs. A program the verifier rejects makes the error's message
   * end with the last lines of its verifier log.
   */
  load(): void {
    live(this.#owner, 'bpf_object__load', this.name);
    // Our own buffers rather than a libbpf_set_print callback: the print hook is process-wide, and a koffi callback
    // registered by a worker thread aborts the process when libbpf calls it after that worker has exited.
    const logs: { program: string; buf: Buffer }[] = [];
    for (let p = c.bpf_object__next_program(this.#ptr, null); p !== null; p = c.bpf_object__next_program(this.#ptr, p)) {
      const program = c.bpf_program__name(p);
      const buf = Buffer.allocUnsafe(VERIFIER_LOG_SIZE);
      buf[0] = 0;
      check('bpf_program__set_log_buf', c.bpf_program__set_log_buf(p, buf, buf.length), program);
      logs.push({ program, buf });
    }
    const result = c.bpf_object__load(this.#ptr);
    if (result >= 0) return;
    const rejected = logs.find((log) => log.buf[0] !== 0);
    if (rejected === undefined) throw new BpfError('bpf_object__load', -result, { object: this.name });
    const text = rejected.buf.toString('utf8', 0, rejected.buf.indexOf(0)).trimEnd();
    const tail = text.split('\n').slice(-VERIFIER_LOG_LINES);
    const truncated = -result === ENOSPC ? ' (the log overflowed, hence ENOSPC; its end is kept)' : '';
    throw new BpfError('bpf_object__load', -result, {
      object: this.name,
      detail: `program ${rejected.program} rejected by the verifier${truncated}; last lines of its log:\n  ${tail.join('\n  ')}`,
    });
  }

  map(name: string): BpfMap {
    live(this.#owner, 'bpf_object__find_map_by_name', name);
    const ptr = c.bpf_object__find_map_by_name(this.#ptr, name);
    if (ptr === null) {
      const errno = lastErrno(ENOENT);
      const known = this.maps().map((m) => m.name);
      throw new BpfError('bpf_object__find_map_by_name', errno, {
        object: name,
        detail: `object ${this.name} has no map ${name}; it has ${known.join(', ') || 'none'}`,
      });
    }
    return this.#map(ptr);
  }

  maps(): BpfMap[] {
    live(this.#owner, 'bpf_object__next_map', this.name);
    const maps: BpfMap[] = [];
    for (let ptr = c.bpf_object__next_map(this.#ptr, null); ptr !== null; ptr = c.bpf_object__next_map(this.#ptr, ptr)) {
      maps.push(this.#map(ptr));
    }
    return maps;
  }

  program(name: string): BpfProgram {
    live(this.#owner, 'bpf_object__find_program_by_name', name);
    const ptr = c.bpf_object__find_program_by_name(this.#ptr, name);
    if (ptr === null) {
      const errno = lastErrno(ENOENT);
      const known = this.programs().map((p) => p.name);
      throw new BpfError('bpf_object__find_program_by_name', errno, {
        object: name,
        detail: `object ${this.name} has no program ${name}; it has ${known.join(', ') || 'none'}`,
      });
    }
    return this.#program(ptr);
  }

  programs(): BpfProgram[] {
    live(this.#owner, 'bpf_object__next_program', this.name);
    const programs: BpfProgram[] = [];
    for (
      let ptr = c.bpf_object__next_program(this.#ptr, null);
      ptr !== null;
      ptr = c.bpf_object__next_program(this.#ptr, ptr)
    ) {
      programs.push(this.#program(ptr));
    }
    return programs;
  }

  /** Closes the object's fds; pinned maps and attached programs stay in the kernel. */
  close(): void {
    if (this.#owner.closed) return;
    this.#owner.closed = true;
    c.bpf_object__close(this.#ptr);
  }

  #map(ptr: Ptr): BpfMap {
    let map = this.#maps.get(ptr);
    if (map === undefined) {
      map = new BpfMap(ptr, this.#owner);
      this.#maps.set(ptr, map);
    }
    return map;
  }

  #program(ptr: Ptr): BpfProgram {
    let program = this.#programs.get(ptr);
    if (program === undefined) {
      program = new BpfProgram(ptr, this.#owner);
      this.#programs.set(ptr, program);
    }
    return program;
  }
}

export class BpfMap {
  readonly name: string;
  readonly #ptr: Ptr;
  readonly #owner: Owner;

  /** Obtained from BpfObject.map() / maps(). */
  constructor(ptr: Ptr, owner: Owner) {
    this.#ptr = ptr;
    this.#owner = owner;
    this.name = c.bpf_map__name(ptr);
  }

  get type(): number {
    return c.bpf_map__type(this.#live('bpf_map__type'));
  }

  get keySize(): number {
    return c.bpf_map__key_size(this.#live('bpf_map__key_size'));
  }

  get valueSize(): number {
    return c.bpf_map__value_size(this.#live('bpf_map__value_size'));
  }

  get maxEntries(): number {
    return c.bpf_map__max_entries(this.#live('bpf_map__max_entries'));
  }

  /** BPF_F_* creation flags as the object declares them (the kernel may add some, e.g. to devmaps). */
  get flags(): number {
    return c.bpf_map__map_flags(this.#live('bpf_map__map_flags'));
  }

  get fd(): number {
    const fd = c.bpf_map__fd(this.#live('bpf_map__fd'));
    // Before load libbpf answers -1, which would read as EPERM.
    if (fd < 0) throw new BpfError('bpf_map__fd', EBADF, { object: this.name, detail: 'the object is not loaded' });
    return fd;
  }

  isPerCpu(): boolean {
    return PER_CPU_TYPES.has(this.type);
  }

  /** The value under `key`, or undefined if there is none. Per-CPU maps: lookupPerCpu(). */
  lookup(key: Buffer): Buffer | undefined {
    const op = 'bpf_map_lookup_elem';
    this.#live(op);
    this.#expectPerCpu(op, false);
    this.#checkKey(op, key);
    const value = Buffer.alloc(this.valueSize);
    return this.#lookupInto(op, key, value) ? value : undefined;
  }

  /** One Buffer of valueSize per possible CPU, indexed by CPU; [] if the key is absent (hash maps). */
  lookupPerCpu(key: Buffer): Buffer[] {
    const op = 'bpf_map_lookup_elem';
    this.#live(op);
    this.#expectPerCpu(op, true);
    this.#checkKey(op, key);
    const size = this.valueSize;
    const stride = perCpuStride(size);
    const all = Buffer.alloc(stride * numPossibleCpus());
    if (!this.#lookupInto(op, key, all)) return [];
    return Array.from({ length: numPossibleCpus() }, (_, cpu) => all.subarray(cpu * stride, cpu * stride + size));
  }

  update(key: Buffer, value: Buffer, flags: number = MAP_UPDATE.ANY): void {
    const op = 'bpf_map_update_elem';
    this.#live(op);
    this.#expectPerCpu(op, false);
    this.#checkKey(op, key);
    this.#checkValue(op, value);
    check(op, c.bpf_map_update_elem(this.fd, key, value, flags), this.name);
  }

  /** `values[cpu]` for every possible CPU. */
  updatePerCpu(key: Buffer, values: Buffer[], flags: number = MAP_UPDATE.ANY): void {
    const op = 'bpf_map_update_elem';
    this.#live(op);
    this.#expectPerCpu(op, true);
    this.#checkKey(op, key);
    const cpus = numPossibleCpus();
    if (values.length !== cpus) {
      throw new BpfError(op, EINVAL, {
        object: this.name,
        detail: `${values.length} per-CPU values given, one per possible CPU (${cpus}) needed`,
      });
    }
    const stride = perCpuStride(this.valueSize);
    const all = Buffer.alloc(stride * cpus);
    values.forEach((value, cpu) => {
      this.#checkValue(op, value);
      value.copy(all, cpu * stride);
    });
    check(op, c.bpf_map_update_elem(this.fd, key, all, flags), this.name);
  }

  /**
   * Writes many entries in one system call (bpf_map_update_batch): `keys` and `values` are the entries' keys and values
   * back to back; for a per-CPU map each entry's value is one value per possible CPU, each 8-byte aligned, as
   * updatePerCpu() lays them out. The kernel writes them in order, each as update() would; on failure the error says
   * how many were written. Maps without batch support (LPM tries, devmaps) are refused by the kernel.
   */
  updateBatch(keys: Buffer, values: Buffer, flags: number = MAP_UPDATE.ANY): void {
    const op = 'bpf_map_update_batch';
    this.#live(op);
    const keySize = this.keySize;
    const valueSize = this.isPerCpu() ? perCpuStride(this.valueSize) * numPossibleCpus() : this.valueSize;
    const count = keys.length / keySize;
    if (!Number.isInteger(count) || values.length !== count * valueSize) {
      throw new BpfError(op, EINVAL, {
        object: this.name,
        detail: `${keys.length} bytes of keys and ${values.length} of values are not as many whole entries of ${keySize} and ${valueSize} bytes`,
      });
    }
    if (count === 0) return;
    const done: [number] = [count];
    // struct bpf_map_batch_opts { size_t sz; __u64 elem_flags; __u64 flags; }
    const opts = Buffer.alloc(24);
    opts.writeBigUInt64LE(24n, 0);
    opts.writeBigUInt64LE(BigInt(flags), 8);
    const result = c.bpf_map_update_batch(this.fd, keys, values, done, opts);
    if (result < 0) {
      throw new BpfError(op, -result, { object: this.name, detail: `${done[0]} of ${count} entries written` });
    }
  }

  /** False if there was no such key. */
  delete(key: Buffer): boolean {
    const op = 'bpf_map_delete_elem';
    this.#live(op);
    this.#checkKey(op, key);
    const result = c.bpf_map_delete_elem(this.fd, key);
    if (result === -ENOENT) return false;
    check(op, result, this.name);
    return true;
  }

  /**
   * Every key, in the kernel's order. At most maxEntries: a hash map whose entries the data plane deletes meanwhile
   * can send get_next_key back to its first key, and the walk must still end.
   */
  keys(): Buffer[] {
    const op = 'bpf_map_get_next_key';
    this.#live(op);
    const fd = this.fd;
    const size = this.keySize;
    const limit = this.maxEntries;
    const keys: Buffer[] = [];
    let prev: Buffer | null = null;
    while (keys.length < limit) {
      const next = Buffer.alloc(size);
      const result = c.bpf_map_get_next_key(fd, prev, next);
      if (result === -ENOENT) break;
      check(op, result, this.name);
      keys.push(next);
      prev = next;
    }
    return keys;
  }

  /** Before load: libbpf reuses the map pinned there if compatible (else load fails), or pins the new map there. */
  setPinPath(path: string): void {
    check('bpf_map__set_pin_path', c.bpf_map__set_pin_path(this.#live('bpf_map__set_pin_path'), path), this.name);
  }

  /** Before load: use this existing map (the fd is duplicated, the caller still owns it) instead of creating one. */
  reuseFd(fd: number): void {
    check('bpf_map__reuse_fd', c.bpf_map__reuse_fd(this.#live('bpf_map__reuse_fd'), fd), this.name);
  }

  /** Before load. */
  setMaxEntries(n: number): void {
    check('bpf_map__set_max_entries', c.bpf_map__set_max_entries(this.#live('bpf_map__set_max_entries'), n), this.name);
  }

  #live(op: string): Ptr {
    live(this.#owner, op, this.name);
    return this.#ptr;
  }

  #lookupInto(op: string, key: Buffer, value: Buffer): boolean {
    const result = c.bpf_map_lookup_elem(this.fd, key, value);
    if (result === -ENOENT) return false;
    check(op, result, this.name);
    return true;
  }

  #expectPerCpu(op: string, perCpu: boolean): void {
    if (this.isPerCpu() === perCpu) return;
    const detail = perCpu
      ? 'not a per-CPU map: use lookup()/update()'
      : 'a per-CPU map: use lookupPerCpu()/updatePerCpu()';
    throw new BpfError(op, EINVAL, { object: this.name, detail });
  }

  #checkKey(op: string, key: Buffer): void {
    const size = this.keySize;
    if (key.length !== size) {
      throw new BpfError(op, EINVAL, { object: this.name, detail: `key is ${key.length} bytes, the map's keys are ${size}` });
    }
  }

  #checkValue(op: string, value: Buffer): void {
    const size = this.valueSize;
    if (value.length !== size) {
      throw new BpfError(op, EINVAL, {
        object: this.name,
        detail: `value is ${value.length} bytes, the map's values are ${size}`,
      });
    }
  }
}

/** The kernel lays per-CPU values out 8-byte aligned, one after the other. */
function perCpuStride(valueSize: number): number {
  return Math.ceil(valueSize / 8) * 8;
}

export interface TestRunOptions {
  /** The frame (at least 14 bytes for XDP). */
  data: Buffer;
  /** Runs in the kernel; duration is the mean per run. Default 1. */
  repeat?: number;
  /** Room for the output frame; default data.length + 256, for programs that grow the frame. */
  dataOutSize?: number;
  /** The context, e.g. an xdp_md with ingress_ifindex and rx_queue_index set. */
  ctxIn?: Buffer;
  flags?: number;
  /** Frames per batch with BPF_F_TEST_XDP_LIVE_FRAMES. */
  batchSize?: number;
}

export interface TestRunResult {
  retval: number;
  /** The frame as the program left it; empty with BPF_F_TEST_XDP_LIVE_FRAMES. */
  data: Buffer;
  /** Nanoseconds per run, as the kernel measured. */
  duration: number;
}

export class BpfProgram {
  readonly name: string;
  readonly #ptr: Ptr;
  readonly #owner: Owner;

  /** Obtained from BpfObject.program() / programs(). */
  constructor(ptr: Ptr, owner: Owner) {
    this.#ptr = ptr;
    this.#owner = owner;
    this.name = c.bpf_program__name(ptr);
  }

  get fd(): number {
    live(this.#owner, 'bpf_program__fd', this.name);
    return check('bpf_program__fd', c.bpf_program__fd(this.#ptr), this.name);
  }

  /** The kernel's id of the loaded program, as xdpQueryProgId reports it. */
  get id(): number {
    // struct bpf_prog_info starts with __u32 type, __u32 id; the kernel accepts a shorter info and fills what fits.
    const info = Buffer.alloc(8);
    check('bpf_obj_get_info_by_fd', c.bpf_obj_get_info_by_fd(this.fd, info, [info.length]), this.name);
    return info.readUInt32LE(4);
  }

  /** Before load: whether load() loads this program ("?" section prefix programs start switched off). */
  setAutoload(autoload: boolean): void {
    live(this.#owner, 'bpf_program__set_autoload', this.name);
    check('bpf_program__set_autoload', c.bpf_program__set_autoload(this.#ptr, autoload), this.name);
  }

  testRun(opts: TestRunOptions): TestRunResult {
    live(this.#owner, 'bpf_prog_test_run_opts', this.name);
    return testRunFd(this.fd, this.name, opts);
  }

  attachXdp(ifindex: number, flags: number): void {
    live(this.#owner, 'bpf_xdp_attach', this.name);
    check('bpf_xdp_attach', c.bpf_xdp_attach(ifindex, this.fd, flags, null), `${this.name} on ifindex ${ifindex}`);
  }
}

/**
 * BPF_PROG_TEST_RUN on a program by fd: for threads that share the process's fds but not its BpfObject (the bench's
 * per-CPU workers). The run happens on the calling thread's CPU.
 */
export function testRunFd(fd: number, name: string, opts: TestRunOptions): TestRunResult {
  const flags = opts.flags ?? 0;
  // Live frames go out to the stack or a redirect target; the kernel refuses an output buffer for them.
  const out = flags & BPF_F_TEST_XDP_LIVE_FRAMES ? null : Buffer.alloc(opts.dataOutSize ?? opts.data.length + 256);
  const attr: TestRunAttr = {
    sz: TEST_RUN_OPTS_SIZE,
    data_in: opts.data,
    data_out: out,
    data_size_in: opts.data.length,
    data_size_out: out?.length ?? 0,
    ctx_in: opts.ctxIn ?? null,
    ctx_out: null,
    ctx_size_in: opts.ctxIn?.length ?? 0,
    ctx_size_out: 0,
    retval: 0,
    repeat: opts.repeat ?? 1,
    duration: 0,
    flags,
    cpu: 0,
    batch_size: opts.batchSize ?? 0,
  };
  const result = c.bpf_prog_test_run_opts(fd, attr);
  if (result < 0) {
    const detail =
      -result === ENOSPC && out !== null
        ? `the output frame is ${attr.data_size_out} bytes, dataOutSize is ${out.length}`
        : undefined;
    throw new BpfError('bpf_prog_test_run_opts', -result, { object: name, detail });
  }
  return {
    retval: attr.retval,
    data: out === null ? Buffer.alloc(0) : out.subarray(0, attr.data_size_out),
    duration: attr.duration,
  };
}
