import { workerData } from 'node:worker_threads';
import { SharedMemory } from '../../actors/shared-memory.ts';
import { AIO, aioComplete } from './aio-context.ts';
import type { BlockBackendConfig } from './block-backend.ts';
import { BlockWriter, type BlockService } from './block-writer.ts';

/**
 * One thread of the block backend's pool (QEMU's thread pool for aio=threads):
 * it carries out one request synchronously, then signals the I/O thread's
 * context directly through shared memory, as QEMU's worker signals the pool's
 * notifier eventfd: the I/O thread learns of the completion by polling or by
 * waking, never from this thread's postMessage reply (which only tells piscina
 * the thread is free again).
 */

export interface BlockWorkerData {
  sab: SharedArrayBuffer;
  layout: SharedMemory['layout'];
  /** The I/O thread's AioContext record. */
  aio: number;
  backend: BlockBackendConfig;
}

export interface BlockRequest {
  queue: number;
  /** Byte offset of the write. */
  offset: number;
}

const data = workerData as BlockWorkerData;
const mem = new SharedMemory(data.sab, data.layout);
const aio = mem.record(AIO, data.aio);
const writer = new BlockWriter(data.backend);
process.on('exit', () => writer.close());

/** Loads this module in a pool thread before the run (piscina's named task). */
export function warm(): void {}

/** The reply (after the completion is signalled) tells the I/O thread how long the device took. */
export default function writeBlock({ queue, offset }: BlockRequest): BlockService {
  const served = writer.write(offset);
  aioComplete(aio, queue);
  return served;
}
