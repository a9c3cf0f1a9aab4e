import { Ring } from '../../actors/ring.ts';

/**
 * The block backend's thread pool as shared memory: one request ring (I/O
 * thread -> pool thread) and one completion ring (pool thread -> I/O thread)
 * per pool thread, as QEMU's thread pool hands a request to a worker through
 * its request list and semaphore and takes it back through a bottom half
 * (util/thread-pool.c): a futex-class wakeup per hop, no message. The pool
 * threads stay piscina's: each runs one long-lived task that serves its ring
 * until the I/O thread closes it.
 *
 * Request record: [queue, byte offset]; a queue of -1 closes the ring.
 * Completion record: [queue, service_ns, spin_ns]; after pushing it the pool
 * thread signals the AioContext (aioComplete), which is what wakes the I/O thread.
 */

export const REQ_WIDTH = 2;
export const CPL_WIDTH = 3;
/** Per pool thread; the I/O thread never has more in flight on one thread (it keeps a backlog instead). */
export const POOL_RING_CAPACITY = 256;
/** A request record whose queue is this ends the pool thread's task. */
export const CLOSE_QUEUE = -1;

/** Header words (one cache line). */
const HDR = {
  started: 0, // pool threads whose serve task is in its loop
  failed: 1, // set by a pool thread whose write threw (its task then rejects with the error)
} as const;
const HEADER_BYTES = 64;

export interface BlockPoolRings {
  readonly sab: SharedArrayBuffer;
  readonly threads: number;
}

/** What a pool thread's serve task is given: the rings and which pair is its own. */
export interface BlockServeTask extends BlockPoolRings {
  index: number;
}

const pairBytes = () => Ring.byteLength(POOL_RING_CAPACITY, REQ_WIDTH) + Ring.byteLength(POOL_RING_CAPACITY, CPL_WIDTH);

export function allocateBlockPoolRings(threads: number): BlockPoolRings {
  return { sab: new SharedArrayBuffer(HEADER_BYTES + threads * pairBytes()), threads };
}

/** Thread `index`'s request and completion rings. */
export function poolRings(p: BlockPoolRings, index: number): { requests: Ring; completions: Ring } {
  const reqBytes = Ring.byteLength(POOL_RING_CAPACITY, REQ_WIDTH);
  const cplBytes = Ring.byteLength(POOL_RING_CAPACITY, CPL_WIDTH);
  const at = HEADER_BYTES + index * pairBytes();
  return {
    requests: new Ring({ sab: p.sab, byteOffset: at, byteLength: reqBytes }, POOL_RING_CAPACITY, REQ_WIDTH),
    completions: new Ring({ sab: p.sab, byteOffset: at + reqBytes, byteLength: cplBytes }, POOL_RING_CAPACITY, CPL_WIDTH),
  };
}

export class BlockPoolHeader {
  private readonly h: Int32Array;
  constructor(p: BlockPoolRings) {
    this.h = new Int32Array(p.sab, 0, HEADER_BYTES / 4);
  }
  get started(): number {
    return Atomics.load(this.h, HDR.started);
  }
  markStarted(): void {
    Atomics.add(this.h, HDR.started, 1);
    Atomics.notify(this.h, HDR.started);
  }
  /** Resolves once `n` serve tasks are in their loops (or the wait times out: the caller checks `started`). */
  async waitStarted(n: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let s = this.started; s < n && Date.now() < deadline; s = this.started) {
      const w = Atomics.waitAsync(this.h, HDR.started, s, deadline - Date.now());
      if (w.async) await w.value;
    }
  }
  get failed(): boolean {
    return Atomics.load(this.h, HDR.failed) !== 0;
  }
  markFailed(): void {
    Atomics.store(this.h, HDR.failed, 1);
  }
}
