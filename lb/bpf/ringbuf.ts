// A BPF ring buffer read by polling.
import os from 'node:os';
import { c, recordCallback, unregister, type Ptr } from './ffi.js';
import { BpfError, check, lastErrno } from './errors.js';
import type { BpfMap } from './object.js';

const { EBADF, EINVAL } = os.constants.errno;

/**
 * A BPF ring buffer read by polling: consume() hands every waiting record to `onRecord`, synchronously on the calling
 * thread (so the callback never runs on a thread that may be gone). The record's bytes are copied out.
 */
export class RingBuffer {
  readonly #ptr: Ptr;
  readonly #callback: unknown;
  #closed = false;

  constructor(map: BpfMap, onRecord: (record: Buffer) => void) {
    this.#callback = recordCallback(onRecord);
    const ptr = c.ring_buffer__new(map.fd, this.#callback, null, null);
    if (ptr === null) {
      const errno = lastErrno(EINVAL);
      unregister(this.#callback);
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
    unregister(this.#callback);
  }
}
