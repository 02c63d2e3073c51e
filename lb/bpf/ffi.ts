// The raw libbpf and libc table (koffi), the kernel constants around it, and errno: the only module that imports
// koffi. Everything else reaches native code through the typed wrappers of object.ts, ringbuf.ts, system.ts and
// sockets.ts.
//
// Conventions of the C side, relied on throughout:
// - libbpf 1.x calls that return int return -errno on failure; calls that return a pointer return NULL and set errno,
//   which must be read (errno()) before any other native call can overwrite it.
// - koffi 3 hands pointers over as bigint and NULL as null; a Buffer passed where a pointer is expected (also as a
//   struct member) is passed in place, so the C side reads and writes the Buffer's own bytes.
import koffi from 'koffi';

/** An opaque libbpf object (bpf_object *, bpf_map *, bpf_program *, ring_buffer *). */
export type Ptr = bigint;

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
export const TEST_RUN_OPTS_SIZE = koffi.sizeof(TestRunOpts);

export interface TestRunAttr {
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

export const c = {
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
  bpf_map_update_batch: libbpf.func(
    'int bpf_map_update_batch(int fd, const void *keys, const void *values, _Inout_ uint32_t *count, const void *opts)',
  ) as (fd: number, keys: Buffer, values: Buffer, count: [number], opts: Buffer | null) => number,
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
  socket: libc.func('int socket(int domain, int type, int protocol)') as (
    domain: number,
    type: number,
    protocol: number,
  ) => number,
  /** ioctl(2); the argument after the request comes as a (type, value) pair, e.g. ('void *', buffer). */
  ioctl: libc.func('int ioctl(int fd, unsigned long request, ...)') as (
    fd: number,
    request: number,
    ...typedArgs: unknown[]
  ) => number,
  unshare: libc.func('int unshare(int flags)') as (flags: number) => number,
  mount: libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)') as (
    source: string,
    target: string,
    fstype: string,
    flags: number,
    data: string | null,
  ) => number,
  flock: libc.func('int flock(int fd, int operation)') as (fd: number, operation: number) => number,
  sched_setaffinity: libc.func('int sched_setaffinity(int pid, size_t size, const void *mask)') as (
    pid: number,
    size: number,
    mask: Buffer,
  ) => number,
  sched_getaffinity: libc.func('int sched_getaffinity(int pid, size_t size, void *mask)') as (
    pid: number,
    size: number,
    mask: Buffer,
  ) => number,
  sched_getcpu: libc.func('int sched_getcpu(void)') as () => number,
  setsockopt: libc.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)') as (
    fd: number,
    level: number,
    name: number,
    value: Buffer,
    len: number,
  ) => number,
  getsockopt: libc.func('int getsockopt(int fd, int level, int name, void *value, _Inout_ uint32_t *len)') as (
    fd: number,
    level: number,
    name: number,
    value: Buffer,
    len: [number],
  ) => number,
  connect: libc.func('int connect(int fd, const void *addr, uint32_t len)') as (fd: number, addr: Buffer, len: number) => number,
  sendto: libc.func('long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)') as (
    fd: number,
    buf: Buffer,
    len: number,
    flags: number,
    addr: Buffer | null,
    addrlen: number,
  ) => number,
  recv: libc.func('long recv(int fd, void *buf, size_t len, int flags)') as (
    fd: number,
    buf: Buffer,
    len: number,
    flags: number,
  ) => number,
  epoll_create1: libc.func('int epoll_create1(int flags)') as (flags: number) => number,
  epoll_ctl: libc.func('int epoll_ctl(int epfd, int op, int fd, void *event)') as (
    epfd: number,
    op: number,
    fd: number,
    event: Buffer | null,
  ) => number,
  epoll_wait: libc.func('int epoll_wait(int epfd, void *events, int maxevents, int timeout)') as (
    epfd: number,
    events: Buffer,
    max: number,
    timeout: number,
  ) => number,
  /** syscall(2), for calls glibc has no wrapper for; the arguments after the number come as (type, value) pairs. */
  syscall: libc.func('long syscall(long number, ...)') as (number: number, ...typedArgs: unknown[]) => number,
};

/** Syscall numbers of the calls made through c.syscall, by architecture. */
export const SYSCALL = {
  membarrier: ({ x64: 324, arm64: 283 } as Record<string, number>)[process.arch],
} as const;
/** membarrier(2) MEMBARRIER_CMD_GLOBAL: returns after an RCU grace period (synchronize_rcu). */
export const MEMBARRIER_CMD_GLOBAL = 1;

/** socket(2) constants of Linux (the same on x86-64 and arm64), for the probes' sockets (sockets.ts) and interfaceMac
 * (system.ts). */
export const SOCK = {
  AF_INET: 2,
  STREAM: 1,
  DGRAM: 2,
  RAW: 3,
  NONBLOCK: 0o4000,
  CLOEXEC: 0o2000000,
  IPPROTO_ICMP: 1,
  SOL_SOCKET: 1,
  SOL_RAW: 255,
  SO_ERROR: 4,
  SO_SNDBUF: 7,
  SO_RCVBUF: 8,
  SO_SNDBUFFORCE: 32,
  SO_RCVBUFFORCE: 33,
  /** SOL_RAW option of ICMP raw sockets: a 32-bit mask of the ICMP types not to deliver. */
  ICMP_FILTER: 1,
  MSG_DONTWAIT: 0x40,
  MSG_NOSIGNAL: 0x4000,
  /** sizeof(struct sockaddr_in) */
  SOCKADDR_IN_SIZE: 16,
} as const;

export const EPOLL = {
  CLOEXEC: 0o2000000,
  CTL_ADD: 1,
  CTL_DEL: 2,
  CTL_MOD: 3,
  IN: 0x1,
  OUT: 0x4,
  ERR: 0x8,
  HUP: 0x10,
  /** struct epoll_event: u32 events, then u64 data; packed (12 bytes) on x86-64 only. */
  EVENT_SIZE: process.arch === 'x64' ? 12 : 16,
  DATA_OFFSET: process.arch === 'x64' ? 4 : 8,
} as const;

/** ioctl(2) SIOCGIFHWADDR, for interfaceMac (system.ts). */
export const SIOCGIFHWADDR = 0x8927;
/** IFNAMSIZ: an interface name and its NUL; struct ifreq is that plus a 24-byte union. */
export const IFNAMSIZ = 16;
export const IFREQ_SIZE = 40;

/** errno as the last native call left it. */
export function errno(): number {
  return koffi.errno();
}

/** A C callback for ring_buffer__new that hands each record's bytes (copied) to `onRecord`; free with unregister(). */
export function recordCallback(onRecord: (record: Buffer) => void): unknown {
  return koffi.register((_ctx: unknown, data: unknown, size: number) => {
    onRecord(Buffer.from(koffi.decode(data, koffi.array('uint8_t', Number(size), 'Typed')) as Uint8Array));
    return 0;
  }, koffi.pointer(RingBufferSample));
}

export function unregister(callback: unknown): void {
  koffi.unregister(callback as never);
}

export const XDP_FLAGS = { UPDATE_IF_NOEXIST: 1, SKB_MODE: 2, DRV_MODE: 4, HW_MODE: 8, REPLACE: 16 } as const;
export const XDP_ACTION = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;
/** bpf_prog_test_run_opts flag: run XDP frames through the real stack/redirect path; no data comes back. */
export const BPF_F_TEST_XDP_LIVE_FRAMES = 2;
/** Flags of BpfMap.update (BPF_ANY, BPF_NOEXIST, BPF_EXIST). */
export const MAP_UPDATE = { ANY: 0, NOEXIST: 1, EXIST: 2 } as const;
/** A flag the kernel sets on some maps (devmaps) by itself, so a pin's flags may differ from its declaration by it. */
export const BPF_F_RDONLY_PROG = 1 << 7;
/** enum bpf_map_type, the values this binding tells apart. */
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
