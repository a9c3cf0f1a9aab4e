import { getHeapStatistics } from 'node:v8';
import { now } from '../actors/clock.ts';
import { region, struct, type RecordOf, type SharedMemory } from '../actors/shared-memory.ts';
import { threadCpuNs, threadId } from '../actors/cpu-time.ts';

/**
 * What each of the VM's threads is doing, published in shared memory by the
 * thread itself so that others can read it while it runs: its OS thread id
 * (for its CPU time from /proc), its run state, and the wall time it has spent
 * in each state. The live demo reads it; messages about a hung actor too.
 */

/**
 * What a VM's thread is doing, for timelines and the live view (not a KVM field): a vCPU thread
 * (guest, host, polling, blocked in kvm_vcpu_block, runnable without a pCPU, in the VMM) or an
 * I/O thread (VMM, BLOCKED, POLLING). native_idle: waiting in guest mode, the pCPU kept, in a
 * native HLT/MWAIT (x86) or an untrapped WFI/WFE (arm64).
 */
export const RUN_STATE = { STARTING: 0, GUEST: 1, HOST: 2, POLLING: 3, BLOCKED: 4, RUNNABLE: 5, VMM: 6, STOPPED: 7, NATIVE_IDLE: 8, VMM_HALTED: 9 } as const;
export const RUN_STATE_NAMES = ['starting', 'guest', 'host', 'polling', 'blocked', 'runnable', 'vmm', 'stopped', 'native_idle', 'vmm_halted'] as const;

const THREAD_STRUCT = struct(['tid', 'run_state'], ['run_state_since', ['state_ns', RUN_STATE_NAMES.length]]);
/** One record per actor of the VM, by its slot. */
export const THREAD = region('thread', THREAD_STRUCT);
export type ThreadRecord = RecordOf<typeof THREAD>;

/** Called once by the thread itself when it starts running. */
export function publishThreadId(rec: ThreadRecord): void {
  rec.store('tid', threadId());
}

export const threadIdOf = (rec: ThreadRecord): number => rec.load('tid');
export const runStateOf = (rec: ThreadRecord): number => rec.load('run_state');

/** Enter `state` at `at`, adding the time spent in the previous one (single writer: the thread itself). */
export function enterRunState(rec: ThreadRecord, state: number, at: number): void {
  const f = rec.f64;
  const prev = Atomics.load(rec.i32, rec.I.run_state);
  f[rec.F.state_ns + prev] += at - f[rec.F.run_state_since];
  f[rec.F.run_state_since] = at;
  Atomics.store(rec.i32, rec.I.run_state, state);
}

/** Forget the time accumulated so far (at the start of a run). */
export function resetRunStates(rec: ThreadRecord, state: number, at: number): void {
  rec.f64.fill(0, rec.F.state_ns, rec.F.state_ns + RUN_STATE_NAMES.length);
  rec.set('run_state_since', at);
  rec.store('run_state', state);
}

/**
 * Time in each state up to `at`, the current one included, read from another
 * thread. The writer may be between its two stores: a torn read is off by at
 * most one transition, which is fine for a live view and never used for results.
 */
export function readRunStates(rec: ThreadRecord, at: number, into = new Float64Array(RUN_STATE_NAMES.length)): Float64Array {
  for (let i = 0; i < into.length; i++) into[i] = rec.f64[rec.F.state_ns + i];
  const cur = rec.load('run_state');
  into[cur] += Math.max(0, at - rec.get('run_state_since'));
  return into;
}

/** The time in each state, named, as a thread's own snapshot reports it. */
export function runStatesByName(rec: ThreadRecord): Record<(typeof RUN_STATE_NAMES)[number], number> {
  return Object.fromEntries(RUN_STATE_NAMES.map((n, i) => [n, rec.f64[rec.F.state_ns + i]])) as Record<(typeof RUN_STATE_NAMES)[number], number>;
}

/** What a thread of the VM cost, for its snapshot: its own CPU time (from the OS), its wall time, its V8 heap at the end. */
export interface ThreadCost {
  thread_cpu_ns: number;
  heap_used_bytes: number;
  wall_ns: number;
}

/**
 * A VM thread's own accounting, from the start of its loop to its end: its
 * THREAD record (thread id, run state and time per state) and its CPU and
 * wall time. Every thread of the VM has one (vm-actor.ts); a vCPU thread's
 * run states are set by its KvmVcpu, which traces them too.
 */
export class ThreadAccounting {
  readonly rec: ThreadRecord;
  private cpu0 = 0;
  private t0 = 0;
  private spent = { thread_cpu_ns: 0, wall_ns: 0 };

  constructor(mem: SharedMemory, slot: number) {
    this.rec = mem.record(THREAD, slot);
  }

  /** The loop starts: publish the thread id, start the clocks, in `state` (null: the state is the thread's own business). */
  start(state: number | null): number {
    publishThreadId(this.rec);
    this.cpu0 = threadCpuNs();
    this.t0 = now();
    if (state !== null) resetRunStates(this.rec, state, this.t0);
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
