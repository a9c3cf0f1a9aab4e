import { livePercentile, LIVE_BUCKETS } from '../actors/live-histogram.ts';
import { RUN_STATE } from '../host/thread-state.ts';
import type { DemoVm as Vm } from './demo-vm.ts';
import type { DemoConfig } from './config.ts';
import { addSpan, emptySpan, type Counters, type CounterSpan } from './counters.ts';

/**
 * The demo session's summary, one segment per configuration: a segment
 * starts at a boot and at each knob changed in place, and ends at the next
 * change, reboot or stop. Paused time belongs to no figure: a pause closes
 * the running span and a resume opens the next one of the same segment.
 */

export interface SegmentSummary {
  segment: number;
  boot: number;
  /** What started it: "boot", "reboot: guest idle poll", "halt_poll_ns=0". */
  started_by: string;
  /** Seconds since the demo started. */
  from_s: number;
  to_s: number;
  /** Running time the figures cover (to_s - from_s less the pauses). */
  running_s: number;
  paused_s: number;
  config: DemoConfig;
  /** All vCPUs, from the live histograms: bucket middles, within ~9%. */
  wake_latency_ns: { p50: number; p90: number; p99: number; count: number };
  /** vCPU threads' CPU time from the OS, mean per vCPU, % of one core. */
  host_cpu_pct_per_vcpu: number;
  /** The same with a pCPU held idle in guest mode (native HLT/MWAIT, untrapped WFx) counted as spent. */
  vcpu_cost_pct: number;
  /** Every thread of the VM, % of one core. */
  all_threads_cpu_pct: number;
  /** KVM's halt statistics summed over the vCPUs, per second of running time; halt_poll_ns at the end, mean over vCPUs. */
  halt: { halt_exits_per_s: number; halt_attempted_poll_per_s: number; halt_successful_poll_per_s: number; halt_wakeup_per_s: number; halt_poll_ns_end: number | null };
  /** Exit reasons that occurred, per second, summed over the vCPUs. */
  exits_per_s: Record<string, number>;
}

interface OpenSegment {
  segment: number;
  boot: number;
  started_by: string;
  from_s: number;
  config: DemoConfig;
  span: CounterSpan;
  /** The read the running span started from; null while paused. */
  since: Counters | null;
  last: Counters;
  paused_s: number;
  paused_at: number;
}

export class SegmentRecorder {
  private readonly closed: SegmentSummary[] = [];
  private open: OpenSegment | null = null;

  constructor(
    /** The demo's start on the shared clock, ns. */
    private readonly t0: number,
  ) {}

  private sessionS = (at: number) => (at - this.t0) / 1e9;

  /** A new segment on `vm` (a boot, or a knob changed in place after close()). */
  begin(vm: Vm, config: DemoConfig, boot: number, startedBy: string): void {
    const c = vm.counters();
    this.open = {
      segment: this.closed.length + 1,
      boot,
      started_by: startedBy,
      from_s: this.sessionS(c.at),
      config,
      span: emptySpan(c),
      since: vm.paused ? null : c,
      last: c,
      paused_s: 0,
      paused_at: c.at,
    };
  }

  /** The current segment ends (a knob changed, a reboot, the stop); `vm` must still be the one it began on. */
  close(vm: Vm): void {
    const seg = this.open;
    if (!seg) return;
    this.open = null;
    this.closed.push(this.summarise(seg, this.advance(seg, vm)));
  }

  pause(vm: Vm): void {
    const seg = this.open;
    if (!seg || !seg.since) return;
    const c = this.advance(seg, vm);
    seg.since = null;
    seg.paused_at = c.at;
  }

  resume(vm: Vm): void {
    const seg = this.open;
    if (!seg || seg.since) return;
    const c = vm.counters();
    seg.paused_s += (c.at - seg.paused_at) / 1e9;
    seg.since = c;
    seg.last = c;
  }

  /** Every segment so far, the open one up to now (still open). */
  summaries(vm: Vm | null): SegmentSummary[] {
    const seg = this.open;
    if (!seg || !vm) return [...this.closed];
    const copy: OpenSegment = { ...seg, span: structuredClone(seg.span) };
    return [...this.closed, this.summarise(copy, this.advance(copy, vm))];
  }

  /** Add the running span up to now into the segment; the read taken. */
  private advance(seg: OpenSegment, vm: Vm): Counters {
    const c = vm.counters();
    if (seg.since) {
      addSpan(seg.span, seg.since, c);
      seg.since = c;
    } else seg.paused_s += (c.at - seg.paused_at) / 1e9;
    seg.paused_at = c.at;
    seg.last = c;
    return c;
  }

  private summarise(seg: OpenSegment, end: Counters): SegmentSummary {
    const s = seg.span;
    const secs = s.wall_ns / 1e9;
    const rate = (n: number) => (secs > 0 ? n / secs : 0);
    const sum = (k: string) => s.vcpus.reduce((a, v) => a + (v.stats[k] ?? 0), 0);
    const wake = new Float64Array(LIVE_BUCKETS);
    for (const v of s.vcpus) for (let b = 0; b < LIVE_BUCKETS; b++) wake[b] += v.wake[b];
    const vcpuThreads = s.threads.filter((t) => t.kind === 'vcpu');
    const pct = (ns: number) => (s.wall_ns > 0 ? (100 * ns) / s.wall_ns : 0);
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, x) => a + x, 0) / xs.length : 0);
    const reasons: Record<string, number> = {};
    for (const v of s.vcpus) for (const [r, n] of Object.entries(v.exit_reasons)) if (n > 0) reasons[r] = (reasons[r] ?? 0) + rate(n);
    return {
      segment: seg.segment,
      boot: seg.boot,
      started_by: seg.started_by,
      from_s: seg.from_s,
      to_s: this.sessionS(end.at),
      running_s: secs,
      paused_s: seg.paused_s,
      config: seg.config,
      wake_latency_ns: { p50: livePercentile(wake, 50), p90: livePercentile(wake, 90), p99: livePercentile(wake, 99), count: wake.reduce((a, x) => a + x, 0) },
      host_cpu_pct_per_vcpu: mean(vcpuThreads.map((t) => pct(t.cpu_ns))),
      // Held idle in guest mode: the thread sleeps, the pCPU runs nothing else (as results.ts's vcpuCostS).
      vcpu_cost_pct: mean(vcpuThreads.map((t) => pct(t.state_ns[RUN_STATE.NATIVE_IDLE] + Math.min(t.cpu_ns, Math.max(0, s.wall_ns - t.state_ns[RUN_STATE.NATIVE_IDLE]))))),
      all_threads_cpu_pct: pct(s.threads.reduce((a, t) => a + t.cpu_ns, 0)),
      halt: {
        halt_exits_per_s: rate(sum('halt_exits')),
        halt_attempted_poll_per_s: rate(sum('halt_attempted_poll')),
        halt_successful_poll_per_s: rate(sum('halt_successful_poll')),
        halt_wakeup_per_s: rate(sum('halt_wakeup')),
        halt_poll_ns_end: end.vcpus.every((v) => v.halt_poll_ns !== null) ? mean(end.vcpus.map((v) => v.halt_poll_ns as number)) : null,
      },
      exits_per_s: reasons,
    };
  }
}
