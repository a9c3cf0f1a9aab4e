import { now } from '../actors/clock.ts';
import { threadCpuNsOf } from '../actors/cpu-time.ts';
import { LIVE_BUCKETS, liveRead } from '../actors/live-histogram.ts';
import { readVcpuStats } from '../host/kvm/stats.ts';
import { RUN_STATE_NAMES, VF } from '../host/kvm/vcpu-state.ts';
import { vcpuShared, WAKE_LIVE_REGION } from '../host/layout.ts';
import { readRunStates, threadIdOf, THREAD_REGION } from '../host/thread-state.ts';
import type { Vm } from '../host/vm.ts';

/**
 * A running VM's cumulative counters, read from its shared memory (and each
 * thread's CPU time from /proc) by the main thread: the differences of two
 * reads are what happened between them. The demo's session summary is built
 * from such differences, so that each configuration gets its own figures.
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
    /** vcpu->halt_poll_ns now (a level, not a count). */
    halt_poll_ns: number;
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

export function readCounters(vm: Vm): Counters {
  const at = now();
  const vcpus = Array.from({ length: vm.scenario.vm.vcpus }, (_, id) => {
    const shared = vcpuShared(vm.mem, id);
    const { stats, exit_reasons } = readVcpuStats(shared.s);
    return {
      stats: Object.fromEntries(Object.entries(stats).filter((e): e is [string, number] => typeof e[1] === 'number')),
      exit_reasons: { ...exit_reasons },
      wake: liveRead(vm.mem.record(WAKE_LIVE_REGION, id).i32, 0),
      halt_poll_ns: shared.v.f64[VF.halt_poll_ns],
    };
  });
  const threads = vm.threads().map((t) => {
    const rec = vm.mem.record(THREAD_REGION, t.slot);
    return { name: t.name, kind: t.kind, cpu_ns: threadCpuNsOf(threadIdOf(rec)), state_ns: readRunStates(rec, at) };
  });
  return { at, vcpus, threads };
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
