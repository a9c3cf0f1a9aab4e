import { struct, type Record32x64 } from '../actors/shared-memory.ts';
import { threadId } from '../actors/cpu-time.ts';
import { RUN_STATE_NAMES } from './kvm/vcpu-state.ts';

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
