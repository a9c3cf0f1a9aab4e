import { closeSync, constants, openSync, writeSync } from 'node:fs';
import type { BlockBackendConfig } from './block-backend.ts';

/**
 * One write of the block backend, done synchronously on the calling thread:
 * a pool thread uses it for the VM's requests, a bare-metal thread for its own.
 */
export class BlockWriter {
  private fd: number | undefined;
  private readonly block: Buffer;
  private readonly sleepWord = new Int32Array(new SharedArrayBuffer(4));
  private next = 0;

  constructor(private readonly backend: BlockBackendConfig) {
    this.block = Buffer.alloc(backend.block_size, 0x5a);
  }

  /** The offset of the next write: blocks in turn through the preallocated file. */
  nextOffset(): number {
    const slots = Math.floor(this.backend.file_bytes / this.backend.block_size);
    return (this.next++ % slots) * this.backend.block_size;
  }

  write(offset: number): void {
    const b = this.backend;
    if (b.kind === 'file') {
      // O_DSYNC: the write returns once the data is on stable storage, as a dsync write asks.
      this.fd ??= openSync(b.path, constants.O_WRONLY | constants.O_DSYNC);
      writeSync(this.fd, this.block, 0, this.block.length, offset);
    } else {
      // The synthetic device: its service time is a real block of this thread for latency_ns.
      Atomics.wait(this.sleepWord, 0, 0, b.latency_ns / 1e6);
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
