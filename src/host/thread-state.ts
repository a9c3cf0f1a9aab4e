import { getHeapStatistics } from 'node:v8';
import { now } from '../actors/clock.ts';
import { struct, type Record32x64, type SharedMemory } from '../actors/shared-memory.ts';
import { threadCpuNs, threadId } from '../actors/cpu-time.ts';
import { RUN_STATE, RUN_STATE_NAMES } from './kvm/vcpu-state.ts';

/**
 * What each of the VM's threads is doing, published in shared memory by the
 * thread itself so that others can read it while it runs: its OS thread id
 * (for its CPU time from /proc), its run state, and the wall time it has spent
 * in each state. The live demo reads it; messages about a hung actor too.
 */

export const THREAD = struct(['tid', 'run_state'], ['run_state_since', ['state_ns', RUN_STATE_NAMES.length]]);
export const THREAD_REGION = 'thread';
const I = THREAD.i32.index;
const F = THREAD.f64.index;

/** Called once by the thread itself when it starts running. */
export function publishThreadId(rec: Record32x64): void {
  Atomics.store(rec.i32, I.tid, threadId());
}

export const threadIdOf = (rec: Record32x64): number => Atomics.load(rec.i32, I.tid);
export const runStateOf = (rec: Record32x64): number => Atomics.load(rec.i32, I.run_state);

/** Enter `state` at `at`, adding the time spent in the previous one (single writer: the thread itself). */
export function enterRunState(rec: Record32x64, state: number, at: number): void {
  const prev = Atomics.load(rec.i32, I.run_state);
  rec.f64[F.state_ns + prev] += at - rec.f64[F.run_state_since];
  rec.f64[F.run_state_since] = at;
  Atomics.store(rec.i32, I.run_state, state);
}

/** Forget the time accumulated so far (at the start of a run). */
export function resetRunStates(rec: Record32x64, state: number, at: number): void {
  rec.f64.fill(0, F.state_ns, F.state_ns + RUN_STATE_NAMES.length);
  rec.f64[F.run_state_since] = at;
  Atomics.store(rec.i32, I.run_state, state);
}

/**
 * Time in each state up to `at`, the current one included, read from another
 * thread. The writer may be between its two stores: a torn read is off by at
 * most one transition, which is fine for a live view and never used for results.
 */
export function readRunStates(rec: Record32x64, at: number, into = new Float64Array(RUN_STATE_NAMES.length)): Float64Array {
  for (let i = 0; i < into.length; i++) into[i] = rec.f64[F.state_ns + i];
  const cur = Atomics.load(rec.i32, I.run_state);
  into[cur] += Math.max(0, at - rec.f64[F.run_state_since]);
  return into;
}

/** The time in each state, named, as a thread's own snapshot reports it. */
export function runStatesByName(rec: Record32x64): Record<(typeof RUN_STATE_NAMES)[number], number> {
  return Object.fromEntries(RUN_STATE_NAMES.map((n, i) => [n, rec.f64[F.state_ns + i]])) as Record<(typeof RUN_STATE_NAMES)[number], number>;
}

/** What a thread of the VM cost, for its snapshot: its own CPU time (from the OS), its wall time, its V8 heap at the end. */
export interface ThreadCost {
  thread_cpu_ns: number;
  heap_used_bytes: number;
  wall_ns: number;
}

/**
 * A VMM thread's own accounting, from the start of its loop to its end: its
 * THREAD record (thread id, run state and time per state) and its CPU and
 * wall time. The actors of the VMM (I/O threads, the main loop, workqueue
 * threads, bare-metal threads) share it; the vCPU thread keeps its state
 * through KvmVcpu.
 */
export class ThreadAccounting {
  readonly rec: Record32x64;
  private cpu0 = 0;
  private t0 = 0;
  private spent = { thread_cpu_ns: 0, wall_ns: 0 };

  constructor(mem: SharedMemory, slot: number) {
    this.rec = mem.record(THREAD_REGION, slot);
  }

  /** The loop starts: publish the thread id, start the clocks, in `state`. Returns the start time. */
  start(state: number): number {
    publishThreadId(this.rec);
    this.cpu0 = threadCpuNs();
    this.t0 = now();
    resetRunStates(this.rec, state, this.t0);
    return this.t0;
  }

  enter(state: number, at = now()): void {
    enterRunState(this.rec, state, at);
  }

  /** The loop has ended. */
  stop(): void {
    const t1 = now();
    enterRunState(this.rec, RUN_STATE.STOPPED, t1);
    this.spent = { thread_cpu_ns: threadCpuNs() - this.cpu0, wall_ns: t1 - this.t0 };
  }

  cost(): ThreadCost {
    return { ...this.spent, heap_used_bytes: getHeapStatistics().used_heap_size };
  }
}
