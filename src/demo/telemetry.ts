import { now } from '../actors/clock.ts';
import { threadCpuNsOf } from '../actors/cpu-time.ts';
import { LIVE_BUCKETS, liveBucketLow, livePercentile, liveRead } from '../actors/live-histogram.ts';
import { ARM64_EXIT_REASONS, X86_EXIT_REASONS, readVcpuStats } from '../host/kvm/stats.ts';
import { RUN_STATE_NAMES, VF } from '../host/kvm/vcpu-state.ts';
import { readRunStates, threadIdOf, THREAD_REGION } from '../host/thread-state.ts';
import { vcpuShared, WAKE_LIVE_REGION } from '../host/layout.ts';
import type { Vm } from '../host/vm.ts';

/**
 * The live view of a running VM, read from its shared memory by the idle main
 * thread (the actors are never asked): every `sample()` is one frame, the
 * differences since the previous frame. Thread CPU comes from /proc by thread
 * id; state time from each thread's own accounting; wake latency from the
 * vCPUs' live histograms, over a sliding window of recent frames.
 */

export interface ThreadFrame {
  name: string;
  kind: 'host' | 'vcpu' | 'iothread';
  /** Fraction of the frame's interval spent in each RUN_STATE (same order as Frame.states). */
  share: number[];
  /** The thread's CPU time over the interval, % of one core (from the OS). */
  cpu_pct: number;
}

export interface VcpuFrame {
  id: number;
  /** Totals since the VM started. */
  exits: number;
  exit_reasons: Record<string, number>;
  halt_exits: number;
  halt_attempted_poll: number;
  halt_successful_poll: number;
  halt_wakeup: number;
  irq_injections: number;
  /** vcpu->halt_poll_ns now. */
  halt_poll_ns: number;
  /** Per second over the interval. */
  exits_per_s: number;
  injections_per_s: number;
}

export interface Frame {
  /** Seconds since this VM started running. */
  t: number;
  /** The interval this frame covers, s. */
  dt: number;
  paused: boolean;
  states: readonly string[];
  threads: ThreadFrame[];
  vcpus: VcpuFrame[];
  wake: {
    window_s: number;
    count: number;
    p50: number;
    p90: number;
    p99: number;
    /** Non-empty buckets of the window: [lower bound ns, upper bound ns, count]. */
    buckets: [number, number, number][];
  };
}

export class LiveSampler {
  private last = { at: 0, cpu: [] as number[], states: [] as Float64Array[], exits: [] as number[], injections: [] as number[] };
  private readonly wakeNow: Float64Array[];
  private readonly wakeWindow: { dt: number; counts: Float64Array }[] = [];
  private readonly sum = new Float64Array(LIVE_BUCKETS);

  constructor(
    private readonly vm: Vm,
    /** Frames the wake-latency window spans. */
    private readonly windowFrames: number,
  ) {
    this.wakeNow = Array.from({ length: vm.scenario.vm.vcpus }, () => new Float64Array(LIVE_BUCKETS));
  }

  sample(): Frame {
    const { vm } = this;
    const at = now();
    const prev = this.last;
    const dt = prev.at ? (at - prev.at) / 1e9 : 0;
    const threads = vm.threads().filter((t) => t.kind !== 'host');
    const next = { at, cpu: [] as number[], states: [] as Float64Array[], exits: [] as number[], injections: [] as number[] };
    const threadFrames = threads.map((t, i): ThreadFrame => {
      const rec = vm.mem.record(THREAD_REGION, t.slot);
      const states = readRunStates(rec, at);
      const cpu = threadCpuNsOf(threadIdOf(rec));
      next.states.push(states);
      next.cpu.push(cpu);
      const before = prev.states[i];
      const span = dt * 1e9;
      return {
        name: t.name,
        kind: t.kind,
        share: Array.from(states, (ns, s) => (before && span > 0 ? Math.max(0, Math.min(1, (ns - before[s]) / span)) : 0)),
        cpu_pct: dt > 0 && Number.isFinite(cpu - prev.cpu[i]) ? (100 * (cpu - prev.cpu[i])) / (dt * 1e9) : 0,
      };
    });
    // Wake latency: this frame's new samples, summed over the vCPUs, into the window.
    const fresh = new Float64Array(LIVE_BUCKETS);
    const vcpus = this.wakeNow.map((held, id): VcpuFrame => {
      const cur = liveRead(vm.mem.record(WAKE_LIVE_REGION, id).i32, 0);
      for (let b = 0; b < LIVE_BUCKETS; b++) fresh[b] += cur[b] - held[b];
      held.set(cur);
      const shared = vcpuShared(vm.mem, id);
      const { stats, exit_reasons } = readVcpuStats(shared.s);
      const exits = stats.exits as number;
      const injections = stats.irq_injections as number;
      next.exits.push(exits);
      next.injections.push(injections);
      return {
        id,
        exits,
        // The VM's architecture's own exit names (arm64 keeps the model's interrupt window too).
        exit_reasons: Object.fromEntries(
          (vm.scenario.host.arch === 'arm64' ? [...ARM64_EXIT_REASONS, 'INTERRUPT_WINDOW' as const] : X86_EXIT_REASONS).map((r) => [r, exit_reasons[r]]),
        ),
        halt_exits: stats.halt_exits as number,
        halt_attempted_poll: stats.halt_attempted_poll as number,
        halt_successful_poll: stats.halt_successful_poll as number,
        halt_wakeup: stats.halt_wakeup as number,
        irq_injections: injections,
        halt_poll_ns: shared.v.f64[VF.halt_poll_ns],
        exits_per_s: dt > 0 ? (exits - prev.exits[id]) / dt : 0,
        injections_per_s: dt > 0 ? (injections - prev.injections[id]) / dt : 0,
      };
    });
    if (prev.at) {
      this.wakeWindow.push({ dt, counts: fresh });
      for (let b = 0; b < LIVE_BUCKETS; b++) this.sum[b] += fresh[b];
      while (this.wakeWindow.length > this.windowFrames) {
        const old = this.wakeWindow.shift()!.counts;
        for (let b = 0; b < LIVE_BUCKETS; b++) this.sum[b] -= old[b];
      }
    }
    this.last = next;
    const sum = this.sum;
    const buckets: [number, number, number][] = [];
    let count = 0;
    for (let b = 0; b < LIVE_BUCKETS; b++) {
      count += sum[b];
      if (sum[b] > 0) buckets.push([liveBucketLow(b), liveBucketLow(b + 1), sum[b]]);
    }
    return {
      t: vm.elapsedS(),
      dt,
      paused: vm.paused,
      states: RUN_STATE_NAMES,
      threads: threadFrames,
      vcpus,
      wake: {
        window_s: this.wakeWindow.reduce((a, w) => a + w.dt, 0),
        count,
        p50: livePercentile(sum, 50),
        p90: livePercentile(sum, 90),
        p99: livePercentile(sum, 99),
        buckets,
      },
    };
  }
}
