import { workerData } from 'node:worker_threads';
import { SharedMemory } from '../../actors/shared-memory.ts';
import { AIO, aioComplete, aioNotify } from './aio-context.ts';
import { VMM } from './vmm-state.ts';
import type { BlockBackendConfig } from './block-backend.ts';
import { BlockPoolHeader, CLOSE_QUEUE, CPL_WIDTH, poolRings, REQ_WIDTH, type BlockServeTask } from './block-pool.ts';
import { BlockWriter } from './block-writer.ts';

/**
 * One thread of the block backend's pool (QEMU's thread pool for aio=threads).
 * Its piscina task is long-lived, as QEMU's worker_thread(): it sleeps on its
 * request ring, carries out each request synchronously, pushes the completion
 * (with the device's service time) to its completion ring and signals the I/O
 * thread's context, as QEMU's worker schedules the pool's completion bottom
 * half. Requests and completions go through shared memory, never a message.
 */

export interface BlockWorkerData {
  sab: SharedArrayBuffer;
  layout: SharedMemory['layout'];
  /** The I/O thread's AioContext record. */
  aio: number;
  backend: BlockBackendConfig;
}

const data = workerData as BlockWorkerData;
const mem = new SharedMemory(data.sab, data.layout);
const aio = mem.record(AIO, data.aio);
const vmm = mem.record(VMM, 0);
const writer = new BlockWriter(data.backend);
process.on('exit', () => writer.close());

/** How long a sleep on the ring lasts before the stop word is looked at again (closing the ring also wakes it). */
const STOP_CHECK_NS = 50_000_000;

/** Loads this module in a pool thread before the run (piscina's named task). */
export function warm(): void {}

/** The pool thread's loop, until its ring is closed or the VM stops; returns the requests it served. */
export function serve(task: BlockServeTask): number {
  const { requests, completions } = poolRings(task, task.index);
  const header = new BlockPoolHeader(task);
  const req = new Float64Array(REQ_WIDTH);
  const cpl = new Float64Array(CPL_WIDTH);
  let served = 0;
  header.markStarted();
  for (;;) {
    if (!requests.pop(req, STOP_CHECK_NS)) {
      if (vmm.load('stop') !== 0) return served;
      continue;
    }
    const queue = req[0];
    if (queue === CLOSE_QUEUE) return served;
    let s;
    try {
      s = writer.write(req[1]);
    } catch (e) {
      header.markFailed();
      aioNotify(aio); // wake the I/O thread to see the failure; it takes the error from this task's rejection
      throw e;
    }
    cpl[0] = queue;
    cpl[1] = s.service_ns;
    cpl[2] = s.spin_ns;
    // Never full: the I/O thread keeps at most POOL_RING_CAPACITY requests in flight on this thread.
    completions.tryPush(cpl);
    served++;
    aioComplete(aio, queue);
  }
}
