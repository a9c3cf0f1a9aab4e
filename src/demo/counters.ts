import { LIVE_BUCKETS } from '../actors/live-histogram.ts';
import { RUN_STATE_NAMES } from '../host/thread-state.ts';

/**
 * A running VM's cumulative counters, read by the main thread (demo-vm.ts: from
 * the model's shared memory, or real KVM's stats fds), each thread's CPU time
 * from /proc: the differences of two reads are what happened between them. The
 * live view and the session summary are built from such differences, so that
 * each frame and each configuration gets its own figures.
 */

export interface Counters {
  /** The shared clock, ns. */
  at: number;
  vcpus: {
    /** KVM's counters and time sums (the histograms left out). */
    stats: Record<string, number>;
    exit_reasons: Record<string, number>;
    /** Wake-latency samples per live-histogram bucket. */
    wake: Float64Array;
    /** vcpu->halt_poll_ns now (a level, not a count); null where the backend cannot tell (real KVM). */
    halt_poll_ns: number | null;
  }[];
  threads: {
    name: string;
    kind: 'host' | 'vcpu' | 'iothread';
    /** NaN once the thread has gone. */
    cpu_ns: number;
    /** Wall time in each RUN_STATE, ns. */
    state_ns: Float64Array;
  }[];
}

/** What happened between two reads of one VM, and sums of such spans. */
export interface CounterSpan {
  wall_ns: number;
  vcpus: { stats: Record<string, number>; exit_reasons: Record<string, number>; wake: Float64Array }[];
  threads: { name: string; kind: 'host' | 'vcpu' | 'iothread'; cpu_ns: number; state_ns: Float64Array }[];
}

export function emptySpan(like: Counters): CounterSpan {
  return {
    wall_ns: 0,
    vcpus: like.vcpus.map((v) => ({
      stats: Object.fromEntries(Object.keys(v.stats).map((k) => [k, 0])),
      exit_reasons: Object.fromEntries(Object.keys(v.exit_reasons).map((k) => [k, 0])),
      wake: new Float64Array(LIVE_BUCKETS),
    })),
    threads: like.threads.map((t) => ({ name: t.name, kind: t.kind, cpu_ns: 0, state_ns: new Float64Array(RUN_STATE_NAMES.length) })),
  };
}

/** Add what happened from `a` to `b` (two reads of the same VM) into `into`. */
export function addSpan(into: CounterSpan, a: Counters, b: Counters): void {
  into.wall_ns += b.at - a.at;
  into.vcpus.forEach((v, i) => {
    for (const k of Object.keys(v.stats)) v.stats[k] += b.vcpus[i].stats[k] - a.vcpus[i].stats[k];
    for (const k of Object.keys(v.exit_reasons)) v.exit_reasons[k] += b.vcpus[i].exit_reasons[k] - a.vcpus[i].exit_reasons[k];
    for (let k = 0; k < LIVE_BUCKETS; k++) v.wake[k] += b.vcpus[i].wake[k] - a.vcpus[i].wake[k];
  });
  into.threads.forEach((t, i) => {
    // A thread not yet started had used none; one that has gone (a crashed VM) has no CPU time left to read: its last span counts none.
    const [from, to] = [a.threads[i].cpu_ns, b.threads[i].cpu_ns];
    if (Number.isFinite(to)) t.cpu_ns += to - (Number.isFinite(from) ? from : 0);
    for (let k = 0; k < t.state_ns.length; k++) t.state_ns[k] += b.threads[i].state_ns[k] - a.threads[i].state_ns[k];
  });
}
