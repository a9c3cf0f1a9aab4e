import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { now } from '../../actors/clock.ts';
import { setThreadTimerSlackNs } from '../../actors/cpu-time.ts';
import type { BlockBackendConfig } from './block-backend.ts';

/** One write as the device served it: its service time, and the part of it this thread spun. */
export interface BlockService {
  service_ns: number;
  spin_ns: number;
}

/** How many recent wake-ups the synthetic device's lateness estimate looks at. */
const LATENESS_SAMPLES = 32;
/** While the estimate says a wait cannot end in time, one request in this many still waits half its time, to re-measure. */
const PROBE_EVERY = 16;

/**
 * One write of the block backend, done synchronously on the calling thread:
 * a pool thread uses it for the VM's requests, a bare-metal thread for its own.
 * Construct it on the thread that writes (it sets that thread's timer slack).
 */
export class BlockWriter {
  private fd: number | undefined;
  private readonly block: Buffer;
  private readonly sleepWord = new Int32Array(new SharedArrayBuffer(4));
  private next = 0;
  /** The synthetic device's recent timed-wait lateness (ns), a ring. */
  private readonly late = new Float64Array(LATENESS_SAMPLES);
  private lateCount = 0;
  private served = 0;

  constructor(private readonly backend: BlockBackendConfig) {
    this.block = Buffer.alloc(backend.block_size, 0x5a);
    // A timed wait with Linux's default 50 µs slack returns ~95 µs after asking for 20 µs: as low as the kernel allows.
    if (backend.kind === 'synthetic') setThreadTimerSlackNs(1);
  }

  /** The offset of the next write: blocks in turn through the preallocated file. */
  nextOffset(): number {
    const slots = Math.floor(this.backend.file_bytes / this.backend.block_size);
    return (this.next++ % slots) * this.backend.block_size;
  }

  write(offset: number): BlockService {
    const b = this.backend;
    const start = now();
    if (b.kind === 'file') {
      // O_DSYNC: the write returns once the data is on stable storage, as a dsync write asks.
      this.fd ??= openSync(b.path, constants.O_WRONLY | constants.O_DSYNC);
      writeSync(this.fd, this.block, 0, this.block.length, offset);
      return { service_ns: now() - start, spin_ns: 0 };
    }
    return this.serveSynthetic(start, start + b.latency_ns);
  }

  /**
   * The synthetic device: this thread is the device for latency_ns. It sleeps
   * until its usual wake-up lateness before the deadline (a timed wait wakes late,
   * never early), then spins to the deadline, so the service time is the setting
   * and not the timer's granularity; the spin is real CPU, reported as spin_ns.
   */
  private serveSynthetic(start: number, deadline: number): BlockService {
    const latency = deadline - start;
    let sleepNs = latency - this.lateness();
    // One slow wake (a busy machine) must not make it spin every request from then on: probe now and then.
    if (sleepNs <= 0 && this.served % PROBE_EVERY === 0) sleepNs = latency / 2;
    this.served++;
    if (sleepNs > 0) {
      Atomics.wait(this.sleepWord, 0, 0, sleepNs / 1e6);
      this.late[this.lateCount++ % LATENESS_SAMPLES] = Math.max(0, now() - (start + sleepNs));
    }
    const spinFrom = now();
    let t = spinFrom;
    while (t < deadline) t = now();
    return { service_ns: t - start, spin_ns: t - spinFrom };
  }

  /**
   * The lateness nine in ten recent timed waits stayed within (0 before any): a wait that ends
   * later overshoots the deadline. One slow outlier cannot pin it high for long: the ring moves on,
   * and the probes above keep sampling while it says a wait cannot end in time.
   */
  private lateness(): number {
    const n = Math.min(this.lateCount, LATENESS_SAMPLES);
    if (n === 0) return 0;
    const recent = Array.from(this.late.subarray(0, n)).sort((a, b) => a - b);
    return recent[Math.floor(0.9 * (n - 1))];
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
