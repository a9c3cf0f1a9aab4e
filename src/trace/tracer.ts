import { Ring, type RingRegion } from '../actors/ring.ts';
import { bytesRegion, type LayoutBuilder } from '../actors/shared-memory.ts';

/**
 * Tracing as actors record it: each thread appends fixed-size events to its
 * own ring in shared memory (never blocking: a full ring counts a drop), the
 * main thread drains the rings while the run goes on and writes the trace
 * after it. Off, a tracer costs one branch per event site.
 */

/** One event: [timestamp ns on the shared clock, kind, a, b]. */
export const TRACE_WIDTH = 4;
export const TRACE_RING_CAPACITY = 16_384;

export const EV = {
  /** vCPU run state changed: a = RUN_STATE. */
  STATE: 1,
  /** VM exit: a = GUEST_EXIT code. */
  EXIT: 2,
  /** An interrupt injected and the guest runs: a = line, b = when it became pending. */
  INJECT: 3,
  /** vcpu->halt_poll_ns changed: a = new value. */
  HALT_POLL_NS: 4,
  /** A kick: a = target vCPU, b = 1 if it woke a sleeper. */
  KICK: 5,
  /** A deadline timer fired: a = vCPU, b = lateness ns. */
  TIMER: 6,
  /** A pCPU changed hands: a = pCPU, b = task now on it (-1: idle). */
  PCPU: 7,
  /** A device raised its line: a = vCPU, b = line. */
  IRQ_RAISE: 8,
  /** The device saw the guest's EOI (resamplefd): a = vCPU. */
  EOI: 9,
  /** The tick preempted a task: a = task. */
  PREEMPT: 10,
} as const;

/** One ring per actor of the VM, by its slot. */
export const TRACE = bytesRegion('trace');

export function addTraceRegion(b: LayoutBuilder, slots: number): LayoutBuilder {
  return b.bytes(TRACE, slots * Ring.byteLength(TRACE_RING_CAPACITY, TRACE_WIDTH));
}

export function traceRing(region: RingRegion, slot: number): Ring {
  const len = Ring.byteLength(TRACE_RING_CAPACITY, TRACE_WIDTH);
  return new Ring({ sab: region.sab, byteOffset: region.byteOffset + slot * len, byteLength: len }, TRACE_RING_CAPACITY, TRACE_WIDTH);
}

export class Tracer {
  private readonly rec = new Float64Array(TRACE_WIDTH);

  constructor(private readonly ring: Ring | null) {}

  get on(): boolean {
    return this.ring !== null;
  }

  emit(at: number, kind: number, a = 0, b = 0): void {
    const ring = this.ring;
    if (ring === null) return;
    const r = this.rec;
    r[0] = at;
    r[1] = kind;
    r[2] = a;
    r[3] = b;
    ring.tryPush(r);
  }
}

export const NO_TRACE = new Tracer(null);
