import { LIVE_BUCKETS, liveBucketLow, livePercentile } from '../actors/live-histogram.ts';
import { RUN_STATE_NAMES } from '../host/thread-state.ts';
import type { Counters } from './counters.ts';
import type { DemoVm } from './demo-vm.ts';

/**
 * The live view of a running VM: every `sample()` is one frame, the differences
 * of two reads of the VM's counters (demo-vm.ts; the actors are never asked).
 * Thread CPU comes from /proc by thread id; state time from each thread's own
 * accounting (real KVM: from its halt statistics); wake latency from the
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
  /** vcpu->halt_poll_ns now (null where the backend cannot tell: real KVM). */
  halt_poll_ns: number | null;
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
  backend: DemoVm['backend'];
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
  private last: Counters | null = null;
  private readonly wakeWindow: { dt: number; counts: Float64Array }[] = [];
  private readonly sum = new Float64Array(LIVE_BUCKETS);

  constructor(
    private readonly vm: DemoVm,
    /** Frames the wake-latency window spans. */
    private readonly windowFrames: number,
  ) {}

  sample(): Frame {
    const { vm } = this;
    const cur = vm.counters();
    const prev = this.last;
    const dt = prev ? (cur.at - prev.at) / 1e9 : 0;
    const span = dt * 1e9;
    const threads = cur.threads
      .map((t, i): ThreadFrame | null => {
        if (t.kind === 'host') return null;
        const before = prev?.threads[i];
        const cpu = before && dt > 0 ? t.cpu_ns - before.cpu_ns : Number.NaN;
        return {
          name: t.name,
          kind: t.kind,
          share: Array.from(t.state_ns, (ns, s) => (before && span > 0 ? Math.max(0, Math.min(1, (ns - before.state_ns[s]) / span)) : 0)),
          cpu_pct: Number.isFinite(cpu) ? (100 * cpu) / span : 0,
        };
      })
      .filter((t): t is ThreadFrame => t !== null);
    // Wake latency: this frame's new samples, summed over the vCPUs, into the window.
    const fresh = new Float64Array(LIVE_BUCKETS);
    const vcpus = cur.vcpus.map((v, id): VcpuFrame => {
      const before = prev?.vcpus[id];
      if (before) for (let b = 0; b < LIVE_BUCKETS; b++) fresh[b] += v.wake[b] - before.wake[b];
      const n = (k: string) => v.stats[k] ?? 0;
      const rate = (k: string) => (before && dt > 0 ? (n(k) - (before.stats[k] ?? 0)) / dt : 0);
      return {
        id,
        exits: n('exits'),
        exit_reasons: Object.fromEntries(vm.exitReasons.map((r) => [r, v.exit_reasons[r] ?? 0])),
        halt_exits: n('halt_exits'),
        halt_attempted_poll: n('halt_attempted_poll'),
        halt_successful_poll: n('halt_successful_poll'),
        halt_wakeup: n('halt_wakeup'),
        irq_injections: n('irq_injections'),
        halt_poll_ns: v.halt_poll_ns,
        exits_per_s: rate('exits'),
        injections_per_s: rate('irq_injections'),
      };
    });
    if (prev) {
      this.wakeWindow.push({ dt, counts: fresh });
      for (let b = 0; b < LIVE_BUCKETS; b++) this.sum[b] += fresh[b];
      while (this.wakeWindow.length > this.windowFrames) {
        const old = this.wakeWindow.shift()!.counts;
        for (let b = 0; b < LIVE_BUCKETS; b++) this.sum[b] -= old[b];
      }
    }
    this.last = cur;
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
      backend: vm.backend,
      states: RUN_STATE_NAMES,
      threads,
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
