// The libbpf binding: typed wrappers over the system libbpf (Debian 12: libbpf.so.1, version 1.1) and the few libc calls
// around it. The only module that imports koffi.
//
// Conventions of the C side, relied on throughout:
// - libbpf 1.x calls that return int return -errno on failure; calls that return a pointer return NULL and set errno,
//   which must be read with koffi.errno() before any other native call.
// - koffi 3 hands pointers over as bigint and NULL as null; a Buffer passed where a pointer is expected (also as a
//   struct member) is passed in place, so the C side reads and writes the Buffer's own bytes.
import os from 'node:os';
import koffi from 'koffi';

/** An opaque libbpf object (bpf_object *, bpf_map *, bpf_program *). */
type Ptr = bigint;

const libbpf = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');

koffi.opaque('bpf_object');
koffi.opaque('bpf_map');
koffi.opaque('bpf_program');
koffi.opaque('ring_buffer');
const RingBufferSample = koffi.proto('int ring_buffer_sample_fn(void *ctx, void *data, size_t size)');

const TestRunOpts = koffi.struct('bpf_test_run_opts', {
  sz: 'size_t',
  data_in: 'void *',
  data_out: 'void *',
  data_size_in: 'uint32_t',
  data_size_out: 'uint32_t',
  ctx_in: 'void *',
  ctx_out: 'void *',
  ctx_size_in: 'uint32_t',
  ctx_size_out: 'uint32_t',
  retval: 'uint32_t',
  repeat: 'int',
  duration: 'uint32_t',
  flags: 'uint32_t',
  cpu: 'uint32_t',
  batch_size: 'uint32_t',
});
const TEST_RUN_OPTS_SIZE = koffi.sizeof(TestRunOpts);

interface TestRunAttr {
  sz: number;
  data_in: Buffer;
  data_out: Buffer | null;
  data_size_in: number;
  data_size_out: number;
  ctx_in: Buffer | null;
  ctx_out: null;
  ctx_size_in: number;
  ctx_size_out: number;
  retval: number;
  repeat: number;
  duration: number;
  flags: number;
  cpu: number;
  batch_size: number;
}

const c = {
  libbpf_num_possible_cpus: libbpf.func('int libbpf_num_possible_cpus(void)') as () => number,
  bpf_object__open_file: libbpf.func('bpf_object *bpf_object__open_file(const char *path, const void *opts)') as (
    path: string,
    opts: null,
  ) => Ptr | null,
  bpf_object__load: libbpf.func('int bpf_object__load(bpf_object *obj)') as (obj: Ptr) => number,
  bpf_object__close: libbpf.func('void bpf_object__close(bpf_object *obj)') as (obj: Ptr) => void,
  bpf_object__name: libbpf.func('const char *bpf_object__name(const bpf_object *obj)') as (obj: Ptr) => string,
  bpf_object__find_map_by_name: libbpf.func(
    'bpf_map *bpf_object__find_map_by_name(const bpf_object *obj, const char *name)',
  ) as (obj: Ptr, name: string) => Ptr | null,
  bpf_object__next_map: libbpf.func('bpf_map *bpf_object__next_map(const bpf_object *obj, const bpf_map *map)') as (
    obj: Ptr,
    prev: Ptr | null,
  ) => Ptr | null,
  bpf_object__find_program_by_name: libbpf.func(
    'bpf_program *bpf_object__find_program_by_name(const bpf_object *obj, const char *name)',
  ) as (obj: Ptr, name: string) => Ptr | null,
  bpf_object__next_program: libbpf.func(
    'bpf_program *bpf_object__next_program(const bpf_object *obj, bpf_program *prog)',
  ) as (obj: Ptr, prev: Ptr | null) => Ptr | null,

  bpf_map__name: libbpf.func('const char *bpf_map__name(const bpf_map *map)') as (map: Ptr) => string,
  bpf_map__type: libbpf.func('int bpf_map__type(const bpf_map *map)') as (map: Ptr) => number,
  bpf_map__key_size: libbpf.func('uint32_t bpf_map__key_size(const bpf_map *map)') as (map: Ptr) => number,
  bpf_map__value_size: libbpf.func('uint32_t bpf_map__value_size(const bpf_map *map)') as (map: Ptr) => number,
  bpf_map__max_entries: libbpf.func('uint32_t bpf_map__max_entries(const bpf_map *map)') as (map: Ptr) => number,
  bpf_map__map_flags: libbpf.func('uint32_t bpf_map__map_flags(const bpf_map *map)') as (map: Ptr) => number,
  bpf_map__set_max_entries: libbpf.func('int bpf_map__set_max_entries(bpf_map *map, uint32_t n)') as (
    map: Ptr,
    n: number,
  ) => number,
  bpf_map__fd: libbpf.func('int bpf_map__fd(const bpf_map *map)') as (map: Ptr) => number,
  bpf_map__set_pin_path: libbpf.func('int bpf_map__set_pin_path(bpf_map *map, const char *path)') as (
    map: Ptr,
    path: string,
  ) => number,
  bpf_map__reuse_fd: libbpf.func('int bpf_map__reuse_fd(bpf_map *map, int fd)') as (map: Ptr, fd: number) => number,
  bpf_map__pin: libbpf.func('int bpf_map__pin(bpf_map *map, const char *path)') as (map: Ptr, path: string) => number,
  bpf_map__unpin: libbpf.func('int bpf_map__unpin(bpf_map *map, const char *path)') as (
    map: Ptr,
    path: string,
  ) => number,

  bpf_program__name: libbpf.func('const char *bpf_program__name(const bpf_program *prog)') as (prog: Ptr) => string,
  bpf_program__fd: libbpf.func('int bpf_program__fd(const bpf_program *prog)') as (prog: Ptr) => number,
  bpf_program__set_autoload: libbpf.func('int bpf_program__set_autoload(bpf_program *prog, bool autoload)') as (
    prog: Ptr,
    autoload: boolean,
  ) => number,
  bpf_program__set_log_buf: libbpf.func(
    'int bpf_program__set_log_buf(bpf_program *prog, void *log_buf, size_t log_size)',
  ) as (prog: Ptr, buf: Buffer, size: number) => number,

  bpf_map_lookup_elem: libbpf.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)') as (
    fd: number,
    key: Buffer,
    value: Buffer,
  ) => number,
  bpf_map_update_elem: libbpf.func(
    'int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)',
  ) as (fd: number, key: Buffer, value: Buffer, flags: number) => number,
  bpf_map_delete_elem: libbpf.func('int bpf_map_delete_elem(int fd, const void *key)') as (
    fd: number,
    key: Buffer,
  ) => number,
  bpf_map_get_next_key: libbpf.func('int bpf_map_get_next_key(int fd, const void *key, void *next_key)') as (
    fd: number,
    key: Buffer | null,
    next: Buffer,
  ) => number,
  bpf_obj_get: libbpf.func('int bpf_obj_get(const char *path)') as (path: string) => number,
  bpf_obj_get_info_by_fd: libbpf.func('int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32_t *len)') as (
    fd: number,
    info: Buffer,
    len: [number],
  ) => number,
  bpf_prog_test_run_opts: libbpf.func('int bpf_prog_test_run_opts(int fd, _Inout_ bpf_test_run_opts *opts)') as (
    fd: number,
    opts: TestRunAttr,
  ) => number,
  bpf_xdp_attach: libbpf.func('int bpf_xdp_attach(int ifindex, int fd, uint32_t flags, const void *opts)') as (
    ifindex: number,
    fd: number,
    flags: number,
    opts: null,
  ) => number,
  bpf_xdp_detach: libbpf.func('int bpf_xdp_detach(int ifindex, uint32_t flags, const void *opts)') as (
    ifindex: number,
    flags: number,
    opts: null,
  ) => number,
  bpf_xdp_query_id: libbpf.func('int bpf_xdp_query_id(int ifindex, int flags, _Out_ uint32_t *prog_id)') as (
    ifindex: number,
    flags: number,
    id: [number],
  ) => number,

  ring_buffer__new: libbpf.func(
    'ring_buffer *ring_buffer__new(int map_fd, ring_buffer_sample_fn *sample_cb, void *ctx, const void *opts)',
  ) as (fd: number, cb: unknown, ctx: null, opts: null) => Ptr | null,
  ring_buffer__consume: libbpf.func('int ring_buffer__consume(ring_buffer *rb)') as (rb: Ptr) => number,
  ring_buffer__free: libbpf.func('void ring_buffer__free(ring_buffer *rb)') as (rb: Ptr) => void,

  strerror: libc.func('const char *strerror(int errnum)') as (errnum: number) => string,
  if_nametoindex: libc.func('unsigned int if_nametoindex(const char *name)') as (name: string) => number,
  close: libc.func('int close(int fd)') as (fd: number) => number,
  unshare: libc.func('int unshare(int flags)') as (flags: number) => number,
  mount: libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)') as (
    source: string,
    target: string,
    fstype: string,
    flags: number,
    data: string | null,
  ) => number,
  flock: libc.func('int flock(int fd, int operation)') as (fd: number, operation: number) => number,
};

export const XDP_FLAGS = { UPDATE_IF_NOEXIST: 1, SKB_MODE: 2, DRV_MODE: 4, HW_MODE: 8, REPLACE: 16 } as const;
export const XDP_ACTION = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;
/** bpf_prog_test_run_opts flag: run XDP frames through the real stack/redirect path; no data comes back. */
export const BPF_F_TEST_XDP_LIVE_FRAMES = 2;
/** Flags of BpfMap.update (BPF_ANY, BPF_NOEXIST, BPF_EXIST). */
export const MAP_UPDATE = { ANY: 0, NOEXIST: 1, EXIST: 2 } as const;
/** The map types this project uses (enum bpf_map_type). */
/** Flags the kernel sets on some maps by itself, so a pin's flags may differ from its declaration by these. */
export const BPF_F_RDONLY_PROG = 1 << 7;
export const BPF_MAP_TYPE = {
  HASH: 1,
  ARRAY: 2,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  DEVMAP: 14,
  DEVMAP_HASH: 25,
} as const;

const PER_CPU_TYPES: ReadonlySet<number> = new Set([
  BPF_MAP_TYPE.PERCPU_ARRAY,
  BPF_MAP_TYPE.PERCPU_HASH,
  BPF_MAP_TYPE.LRU_PERCPU_HASH,
]);

const { EBADF, EINVAL, ENODEV, ENOENT, ENOSPC } = os.constants.errno;

// Several names share a number; the kernel's BPF code says EOPNOTSUPP, and ENOTSUPP (524) is kernel-internal but does
// reach user space from bpf(2).
const ERRNO_NAMES = new Map<number, string>([
  [os.constants.errno.EOPNOTSUPP, 'EOPNOTSUPP'],
  [524, 'ENOTSUPP'],
]);
for (const [name, value] of Object.entries(os.constants.errno)) {
  if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name);
}

/** A failed libbpf (or libc) call: `op` is the C function, `errno` positive, `code` its name (e.g. "EEXIST"). */
export class BpfError extends Error {
  readonly op: string;
  readonly errno: number;
  readonly code: string;
  /** The map, program, object, path or interface the call was about, when there is one. */
  readonly object: string | undefined;

  constructor(op: string, errno: number, options: { object?: string; detail?: string } = {}) {
    const code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
    const call = options.object === undefined ? op : `${op}(${options.object})`;
    const detail = options.detail === undefined ? '' : `: ${options.detail}`;
    super(`${call}: ${c.strerror(errno)} (${code})${detail}`);
    this.name = 'BpfError';
    this.op = op;
    this.errno = errno;
    this.code = code;
    this.object = options.object;
  }
}

/** Throws for a libbpf int result below zero (a -errno); returns it otherwise. */
function check(op: string, result: number, object?: string): number {
  if (result < 0) throw new BpfError(op, -result, { object });
  return result;
}

/** errno after a call that signals failure by NULL or -1; never 0, so the error always has a cause. */
function lastErrno(fallback: number): number {
  return koffi.errno() || fallback;
}

let possibleCpus: number | undefined;

/** Possible CPUs (not online ones): the number of slots in every per-CPU map value. */
export function numPossibleCpus(): number {
  possibleCpus ??= check('libbpf_num_possible_cpus', c.libbpf_num_possible_cpus());
  return possibleCpus;
}

export function ifNameToIndex(name: string): number {
  const index = c.if_nametoindex(name);
  if (index === 0) throw new BpfError('if_nametoindex', lastErrno(ENODEV), { object: name });
  return index;
}

/** The fd of a pinned map or program; the caller owns it (closeFd). */
export function objGet(path: string): number {
  return check('bpf_obj_get', c.bpf_obj_get(path), path);
}

export function closeFd(fd: number): void {
  if (c.close(fd) < 0) throw new BpfError('close', lastErrno(EBADF), { object: `fd ${fd}` });
}

const CLONE_NEWNET = 0x40000000;

/**
 * Moves the calling thread into a new, empty network namespace (only a loopback, down). BPF_PROG_TEST_RUN and
 * if_nametoindex then see that namespace, and so do child processes the thread spawns afterwards.
 */
export function unshareNetwork(): void {
  if (c.unshare(CLONE_NEWNET) < 0) throw new BpfError('unshare', lastErrno(EINVAL), { object: 'CLONE_NEWNET' });
}

/** Mounts a BPF filesystem at `target` (mode 0700, as systemd mounts it). */
export function mountBpffs(target: string): void {
  if (c.mount('bpf', target, 'bpf', 0, 'mode=0700') < 0) {
    throw new BpfError('mount', lastErrno(EINVAL), { object: `bpf on ${target}` });
  }
}

const LOCK_EX = 2;
const LOCK_NB = 4;

/** An exclusive, non-blocking flock on `fd`: false when another open file holds it. Released when the fd closes. */
export function tryLockExclusive(fd: number): boolean {
  if (c.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const errno = lastErrno(EINVAL);
  if (errno === os.constants.errno.EWOULDBLOCK) return false;
  throw new BpfError('flock', errno, { object: `fd ${fd}` });
}

export function xdpDetach(ifindex: number, flags: number): void {
  check('bpf_xdp_detach', c.bpf_xdp_detach(ifindex, flags, null), `ifindex ${ifindex}`);
}

/** The id of the XDP program attached in the mode `flags` selects (0: whichever single mode is in use); 0 if none. */
export function xdpQueryProgId(ifindex: number, flags: number): number {
  const id: [number] = [0];
  check('bpf_xdp_query_id', c.bpf_xdp_query_id(ifindex, flags, id), `ifindex ${ifindex}`);
  return id[0];
}

/** The kernel's description of a map by fd (struct bpf_map_info's leading fields): to tell whether a pin fits. */
export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
}

export function mapInfo(fd: number): MapInfo {
  const info = Buffer.alloc(24);
  check('bpf_obj_get_info_by_fd', c.bpf_obj_get_info_by_fd(fd, info, [info.length]), `fd ${fd}`);
  const [type, id, keySize, valueSize, maxEntries, flags] = [0, 4, 8, 12, 16, 20].map((o) => info.readUInt32LE(o));
  return { type, id, keySize, valueSize, maxEntries, flags };
}

/**
 * A BPF ring buffer read by polling: consume() hands every waiting record to `onRecord`, synchronously on the calling
 * thread (so the callback never runs on a thread that may be gone). The record's bytes are copied out.
 */
export class RingBuffer {
  readonly #ptr: Ptr;
  readonly #callback: unknown;
  #closed = false;

  constructor(map: BpfMap, onRecord: (record: Buffer) => void) {
    this.#callback = koffi.register((_ctx: unknown, data: unknown, size: number) => {
      onRecord(Buffer.from(koffi.decode(data, koffi.array('uint8_t', Number(size), 'Typed')) as Uint8Array));
      return 0;
    }, koffi.pointer(RingBufferSample));
    const ptr = c.ring_buffer__new(map.fd, this.#callback, null, null);
    if (ptr === null) {
      const errno = lastErrno(EINVAL);
      koffi.unregister(this.#callback as never);
      throw new BpfError('ring_buffer__new', errno, { object: map.name });
    }
    this.#ptr = ptr;
  }

  /** Records handed over. */
  consume(): number {
    if (this.#closed) throw new BpfError('ring_buffer__consume', EBADF, { detail: 'ring buffer is closed' });
    return check('ring_buffer__consume', c.ring_buffer__consume(this.#ptr));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    c.ring_buffer__free(this.#ptr);
    koffi.unregister(this.#callback as never);
  }
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
      const known = this.maps().map((m) => m.name);
      throw new BpfError('bpf_object__find_map_by_name', lastErrno(ENOENT), {
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
      const known = this.programs().map((p) => p.name);
      throw new BpfError('bpf_object__find_program_by_name', lastErrno(ENOENT), {
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

  pin(path: string): void {
    check('bpf_map__pin', c.bpf_map__pin(this.#live('bpf_map__pin'), path), `${this.name} at ${path}`);
  }

  unpin(path: string): void {
    check('bpf_map__unpin', c.bpf_map__unpin(this.#live('bpf_map__unpin'), path), `${this.name} at ${path}`);
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
    const result = c.bpf_prog_test_run_opts(this.fd, attr);
    if (result < 0) {
      const detail =
        -result === ENOSPC && out !== null
          ? `the output frame is ${attr.data_size_out} bytes, dataOutSize is ${out.length}`
          : undefined;
      throw new BpfError('bpf_prog_test_run_opts', -result, { object: this.name, detail });
    }
    return {
      retval: attr.retval,
      data: out === null ? Buffer.alloc(0) : out.subarray(0, attr.data_size_out),
      duration: attr.duration,
    };
  }

  attachXdp(ifindex: number, flags: number): void {
    live(this.#owner, 'bpf_xdp_attach', this.name);
    check('bpf_xdp_attach', c.bpf_xdp_attach(ifindex, this.fd, flags, null), `${this.name} on ifindex ${ifindex}`);
  }
}
