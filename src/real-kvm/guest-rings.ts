import { LatencyRecorder } from '../actors/latency-recorder.ts';
import { GUEST_SYMBOLS as G } from './guest/image.ts';

/**
 * The guest's sample rings, read by the host while the guest runs: the guest writes a slot, then
 * bumps its count (x86 keeps the two stores in order); the host reads the count, then the slots
 * below it. A host that falls more than a ring behind has lost samples, and says how many.
 */

export interface RingSample {
  /** The sample, TSC cycles (signed: a timer sample below 0 would be an early timer). */
  cycles: number;
  /** What the guest's handler cost up to its EOI, TSC cycles. */
  handler_cycles: number;
}

export class GuestRing {
  private read = 0;
  lost = 0;
  private readonly count: Int32Array;

  constructor(
    private readonly segment: ArrayBuffer,
    countOffset: number,
    private readonly ringOffset: number,
  ) {
    this.count = new Int32Array(segment, countOffset, 1);
  }

  /** Samples published so far (a u32 in the guest). */
  published(): number {
    return Atomics.load(this.count, 0) >>> 0;
  }

  drain(onSample: (s: RingSample) => void): number {
    const slots = G.RING_SLOTS;
    const view = new DataView(this.segment, this.ringOffset, slots * 8);
    const end = this.published();
    let from = this.read;
    const behind = (end - from) >>> 0;
    if (behind > slots) {
      this.lost += behind - slots;
      from = (end - slots) >>> 0;
    }
    const got: RingSample[] = [];
    for (let i = from; i !== end; i = (i + 1) >>> 0) {
      const o = 8 * (i & (slots - 1));
      got.push({ cycles: view.getInt32(o, true), handler_cycles: view.getUint32(o + 4, true) });
    }
    // Slots the guest overwrote while they were being read are not samples.
    const overwritten = Math.max(0, ((this.published() - from) >>> 0) - slots);
    this.lost += Math.min(overwritten, got.length);
    for (const s of got.slice(overwritten)) onSample(s);
    this.read = end;
    return got.length - Math.min(overwritten, got.length);
  }
}

/** A vCPU's two rings and what they make: latency histograms in ns. */
export class VcpuSamples {
  readonly timer: GuestRing;
  readonly device: GuestRing;
  readonly timerLateness = new LatencyRecorder();
  readonly wake = new LatencyRecorder();
  readonly handler = new LatencyRecorder();
  /** When the timer last fired, or when the guest came up (0: not yet up). */
  lastTimerAdvance = 0;
  private readonly ready: Int32Array;

  constructor(
    segment: ArrayBuffer,
    private readonly nsPerCycle: number,
    private readonly onWake?: (ns: number) => void,
  ) {
    this.timer = new GuestRing(segment, G.CB_TIMER_COUNT, G.TIMER_RING);
    this.device = new GuestRing(segment, G.CB_DEVICE_COUNT, G.DEVICE_RING);
    this.ready = new Int32Array(segment, G.CB_READY, 1);
  }

  /** The guest has set up its APIC and armed its timer. */
  get up(): boolean {
    return Atomics.load(this.ready, 0) !== 0;
  }

  /** Read what the guest published since the last call. Returns the timer samples read. */
  drain(at: number): number {
    const ns = (cycles: number) => cycles * this.nsPerCycle;
    // A timer interrupt becomes pending at its deadline: its lateness is also its wake latency.
    const timers = this.timer.drain((s) => {
      this.timerLateness.record(ns(s.cycles));
      this.wake.record(ns(s.cycles));
      this.handler.record(ns(s.handler_cycles));
      this.onWake?.(ns(s.cycles));
    });
    this.device.drain((s) => {
      this.wake.record(ns(s.cycles));
      this.handler.record(ns(s.handler_cycles));
      this.onWake?.(ns(s.cycles));
    });
    if (timers > 0 || (this.lastTimerAdvance === 0 && this.up)) this.lastTimerAdvance = at;
    return timers;
  }
}
