// Native calls about the system around the maps and programs: interfaces, fds, XDP attachment, bpffs.
import os from 'node:os';
import { c, IFNAMSIZ, IFREQ_SIZE, MEMBARRIER_CMD_GLOBAL, SIOCGIFHWADDR, SOCK, SYSCALL } from './ffi.js';
import { BpfError, check, lastErrno } from './errors.js';

const { EBADF, EINVAL, ENODEV, ENOENT, ENOSYS } = os.constants.errno;

export function ifNameToIndex(name: string): number {
  const index = c.if_nametoindex(name);
  if (index === 0) throw new BpfError('if_nametoindex', lastErrno(ENODEV), { object: name });
  return index;
}

/**
 * The hardware address of interface `name` in this process's network namespace, as "02:00:00:00:00:01" (ioctl
 * SIOCGIFHWADDR: no /sys, which shows the namespace it was mounted in).
 */
export function interfaceMac(name: string): string {
  const object = `SIOCGIFHWADDR ${name}`;
  if (Buffer.byteLength(name) >= IFNAMSIZ || name.includes('\0')) {
    throw new BpfError('ioctl', ENODEV, { object, detail: 'no interface has such a name' });
  }
  const ifr = Buffer.alloc(IFREQ_SIZE);
  ifr.write(name, 0, 'utf8');
  const fd = c.socket(SOCK.AF_INET, SOCK.DGRAM | SOCK.CLOEXEC, 0);
  if (fd < 0) throw new BpfError('socket', lastErrno(EINVAL), { object: 'AF_INET, SOCK_DGRAM' });
  try {
    if (c.ioctl(fd, SIOCGIFHWADDR, 'void *', ifr) < 0) throw new BpfError('ioctl', lastErrno(ENODEV), { object });
  } finally {
    c.close(fd);
  }
  // struct ifreq: the name, then struct sockaddr ifr_hwaddr: sa_family (2 bytes), the address in sa_data.
  return [...ifr.subarray(IFNAMSIZ + 2, IFNAMSIZ + 8)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** CLOCK_MONOTONIC in nanoseconds: the data plane's clock (bpf_ktime_get_ns()), for its HA deadlines. */
export function monotonicNs(): bigint {
  // libuv's hrtime is clock_gettime(CLOCK_MONOTONIC) on Linux.
  return process.hrtime.bigint();
}

/** The fd of a pinned map or program; the caller owns it (closeFd). */
export function objGet(path: string): number {
  return check('bpf_obj_get', c.bpf_obj_get(path), path);
}

/** Reads the entry under `key` of the map `fd` (e.g. a pinned map, by objGet) into `value`; false when there is none. */
export function lookupFd(fd: number, key: Buffer, value: Buffer): boolean {
  const result = c.bpf_map_lookup_elem(fd, key, value);
  if (result === -ENOENT) return false;
  check('bpf_map_lookup_elem', result, `fd ${fd}`);
  return true;
}

export function closeFd(fd: number): void {
  if (c.close(fd) < 0) throw new BpfError('close', lastErrno(EBADF), { object: `fd ${fd}` });
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

/** Room for 1024 CPUs in a cpu_set_t; the kernel wants at least as many bits as it has possible CPUs. */
const CPU_SET_BYTES = 128;

/** Pins the calling thread (not the process) to one CPU; BPF_PROG_TEST_RUN then runs programs there. */
export function pinThread(cpu: number): void {
  setThreadAffinity([cpu]);
}

/** The CPUs the calling thread may run on. */
export function threadAffinity(): number[] {
  const mask = Buffer.alloc(CPU_SET_BYTES);
  if (c.sched_getaffinity(0, mask.length, mask) < 0) throw new BpfError('sched_getaffinity', lastErrno(EINVAL));
  const cpus: number[] = [];
  for (let cpu = 0; cpu < mask.length * 8; cpu++) if (mask[cpu >> 3]! & (1 << (cpu & 7))) cpus.push(cpu);
  return cpus;
}

export function setThreadAffinity(cpus: readonly number[]): void {
  const mask = Buffer.alloc(CPU_SET_BYTES);
  for (const cpu of cpus) mask[cpu >> 3]! |= 1 << (cpu & 7);
  if (c.sched_setaffinity(0, mask.length, mask) < 0) {
    throw new BpfError('sched_setaffinity', lastErrno(EINVAL), { object: `CPUs ${cpus.join(',')}` });
  }
}

/** The CPU the calling thread runs on now. */
export function currentCpu(): number {
  return check('sched_getcpu', c.sched_getcpu());
}

/**
 * Returns once every XDP program run that started before the call has ended (membarrier(2)'s MEMBARRIER_CMD_GLOBAL is
 * synchronize_rcu(), and programs run inside RCU read-side sections): after it, no packet can still hold a map value
 * it read before.
 */
export function rcuGracePeriod(): void {
  if (SYSCALL.membarrier === undefined) throw new BpfError('membarrier', ENOSYS, { detail: `unknown on ${process.arch}` });
  if (c.syscall(SYSCALL.membarrier, 'int', MEMBARRIER_CMD_GLOBAL, 'unsigned int', 0, 'int', 0) < 0) {
    throw new BpfError('membarrier', lastErrno(EINVAL), { object: 'MEMBARRIER_CMD_GLOBAL' });
  }
}
