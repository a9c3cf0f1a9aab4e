import type { SharedMemory } from '../actors/shared-memory.ts';
import { TRACE, TRACE_WIDTH, traceRing } from './tracer.ts';
import type { Ring } from '../actors/ring.ts';

/**
 * The main thread's side of tracing: drain every thread's ring while the run
 * goes on (the main thread is otherwise idle), keep the events in compact
 * chunks, and count what was lost (a full ring, or the cap on a trace's size).
 */

/** A drained event: the ring's four words and the slot (thread) it came from. */
export const STORED_WIDTH = TRACE_WIDTH + 1;
const CHUNK_EVENTS = 65_536;

export interface TraceEvent {
  slot: number;
  ts: number;
  kind: number;
  a: number;
  b: number;
}

export class TraceCollector {
  private readonly rings: Ring[];
  /** In tail mode: the last `tail` events of each slot, circular. */
  private readonly tails: Float64Array[] | null;
  private readonly tailCount: number[];
  private readonly chunks: Float64Array[] = [];
  private used = CHUNK_EVENTS; // events in the last chunk
  private stored = 0;
  private capped = 0;

  constructor(
    mem: SharedMemory,
    slots: number,
    /** Beyond this many events a trace would not open in Perfetto UI anyway: count and drop. */
    private readonly maxEvents = 3_000_000,
    /** Keep only each thread's last `tail` events (a flight recorder for the stress watchdog). */
    private readonly tail = 0,
  ) {
    const region = mem.bytes(TRACE);
    this.rings = Array.from({ length: slots }, (_, i) => traceRing(region, i));
    this.tails = tail > 0 ? Array.from({ length: slots }, () => new Float64Array(tail * TRACE_WIDTH)) : null;
    this.tailCount = Array<number>(slots).fill(0);
  }

  drain(): void {
    if (this.tails) {
      const tails = this.tails;
      this.rings.forEach((ring, slot) =>
        ring.drain((r) => {
          tails[slot].set(r, (this.tailCount[slot]++ % this.tail) * TRACE_WIDTH);
        }),
      );
      return;
    }
    this.rings.forEach((ring, slot) =>
      ring.drain((r) => {
        if (this.stored >= this.maxEvents) {
          this.capped++;
          return;
        }
        if (this.used === CHUNK_EVENTS) {
          this.chunks.push(new Float64Array(CHUNK_EVENTS * STORED_WIDTH));
          this.used = 0;
        }
        const c = this.chunks[this.chunks.length - 1];
        const at = this.used * STORED_WIDTH;
        c[at] = slot;
        c.set(r, at + 1);
        this.used++;
        this.stored++;
      }),
    );
  }

  /** Tail mode: a thread's last events, oldest first. */
  last(slot: number): TraceEvent[] {
    if (!this.tails) return [];
    const n = Math.min(this.tail, this.tailCount[slot]);
    const first = this.tailCount[slot] - n;
    return Array.from({ length: n }, (_, i) => {
      const at = ((first + i) % this.tail) * TRACE_WIDTH;
      const t = this.tails![slot];
      return { slot, ts: t[at], kind: t[at + 1], a: t[at + 2], b: t[at + 3] };
    });
  }

  /** Events lost: pushed to a full ring, or past the size cap. */
  get dropped(): number {
    return this.capped + this.rings.reduce((a, r) => a + r.dropped, 0);
  }

  *events(): Generator<TraceEvent> {
    for (let c = 0; c < this.chunks.length; c++) {
      const chunk = this.chunks[c];
      const n = c === this.chunks.length - 1 ? this.used : CHUNK_EVENTS;
      for (let i = 0; i < n; i++) {
        const at = i * STORED_WIDTH;
        yield { slot: chunk[at], ts: chunk[at + 1], kind: chunk[at + 2], a: chunk[at + 3], b: chunk[at + 4] };
      }
    }
  }
}
