import { availableParallelism, cpus } from 'node:os';
import { readFileSync } from 'node:fs';
import { CLOCK_DESCRIPTION } from '../actors/clock.ts';
import { cpuClockSource } from '../actors/cpu-time.ts';
import type { LatencySummary } from '../actors/histogram.ts';
import type { Scenario } from '../scenarios/schema.ts';
import type { ExitReason, ModelCounter, VcpuStatName } from './kvm/stats.ts';
import type { RunStatus } from '../actors/supervisor.ts';
import type { GuestClockeventResult, GuestHaltpollResult } from './vmm/vcpu-thread.ts';

/** The results of one run: stable keys, documented in docs/results.md. Times in ns unless the key says otherwise. */

/** What every vCPU's result has, on either backend. */
interface VcpuResultCommon {
  id: number;
  /** From an interrupt becoming pending to the vCPU running guest code again. */
  wake_latency_ns: LatencySummary;
  /** Guest timer handler entry minus the programmed deadline (kvm-unit-tests tscdeadline_latency). */
  timer_lateness_ns: LatencySummary;
  /** Samples that would have been early (< 0): a timer must never be delivered early. */
  timer_early_count: number;
  cpu: {
    thread_cpu_s: number;
    wall_s: number;
    /** thread CPU / wall: the host CPU this vCPU thread cost, % of one core. */
    host_cpu_pct: number;
    /**
     * Wall time per state of the vCPU thread, seconds. On real KVM, from KVM's own accounting:
     * polling = halt_poll_success_ns + halt_poll_fail_ns, blocked = halt_wait_ns, vmm = outside
     * KVM_RUN (measured by the thread), guest = the rest of KVM_RUN.
     */
    state_s: Record<string, number>;
  };
}

/** A vCPU of the model. */
export interface VcpuResult extends VcpuResultCommon {
  /** KVM's statistics under KVM's names: counters, *_ns sums, *_hist 32-bucket log2 histograms. */
  stats: Record<VcpuStatName, number | number[]>;
  exit_reasons: Record<ExitReason, number>;
  /** Counters of the model that KVM has no statistic for. */
  model: Record<ModelCounter, number>;
  /** vcpu->halt_poll_ns at the end of the run. */
  halt_poll_ns: number;
  /** The LAPIC timer's adaptive advance at the end of the run (debugfs lapic_timer_advance_ns; 0: off, or arm64). */
  lapic_timer_advance_ns: number;
  /** vmx->ple_window at the end of the run, cycles (= ns). */
  ple_window: number;
  /** The guest's cpuidle-haltpoll governor, when the guest loaded it (null otherwise). */
  guest_haltpoll: GuestHaltpollResult | null;
  /** The guest kernel's LAPIC clockevent, when the workload programs its timer through it (null otherwise). */
  guest_clockevent: GuestClockeventResult | null;
  /** The host scheduler's view of this vCPU thread against what its guest really did. */
  sched: {
    /** PELT-like utilisation (0..1) at the thread's end: what the scheduler thinks it needs. */
    util: number;
    /** Share of wall time the guest spent on its work (`compute`). */
    guest_busy_share: number;
    /** util - guest_busy_share: positive when the scheduler over-estimates (e.g. untrapped WFI). */
    util_error: number;
  };
}

export interface KvmVcpuResult extends VcpuResultCommon {
  /** Every statistic of the vCPU's stats fd (KVM_GET_STATS_FD), by KVM's names; times in ns, histograms as arrays. */
  stats: Record<string, number | number[]>;
  /** Exits by reason, for the reasons KVM has a statistic of: HLT (halt_exits), EXTERNAL_INTERRUPT (irq_exits), IO_INSTRUCTION (io_exits), INTERRUPT_WINDOW (irq_window_exits). */
  exit_reasons: Partial<Record<ExitReason, number>>;
  kvm: {
    /** KVM_RUN calls of the vCPU thread, and those ended by a kick (-EINTR). */
    kvm_runs: number;
    kicks: number;
    /** Handler entry to EOI, measured by the guest with RDTSC (on kvm_pvm, emulated instructions). */
    guest_handler_ns: LatencySummary;
    /** Samples the guest overwrote before the host read them. */
    samples_lost: number;
  };
}

/** A vCPU's result on either backend. */
export type AnyVcpuResult = VcpuResult | KvmVcpuResult;

/** What a real-KVM run records of the host's KVM (machine.kvm). */
export interface KvmMachine {
  kernel: string;
  vendor_module: string | null;
  api_version: number | null;
  /** /sys/module/kvm/parameters as read at the run. */
  module_params: Record<string, string>;
  /** The capabilities the run used. */
  caps_used: string[];
  /** KVM_GET_TSC_KHZ: the guest's TSC rate. */
  tsc_khz: number;
}

export interface ThreadCpu {
  thread: string;
  cpu_s: number;
  wall_s: number;
  /** The thread's V8 heap in use at the end, bytes (threads share the process's RSS; heaps are their own). */
  heap_bytes: number;
}

export type Backend = 'model' | 'kvm';
export const BACKENDS: readonly Backend[] = ['model', 'kvm'];

/** What every run's result has, on either backend. */
interface RunResultCommon {
  haltlab: { version: string };
  /** `model`: haltlab's model of KVM on worker threads; `kvm`: the same scenario on /dev/kvm. */
  backend: Backend;
  machine: {
    cores: number;
    cpu_model: string;
    node: string;
    platform: string;
    clock: string;
    thread_cpu_source: string;
    /** Timer slack of the host actor thread that stands in for hrtimer interrupts, ns. */
    host_timer_slack_ns: number | null;
    /** Real KVM only: the host's KVM. */
    kvm?: KvmMachine;
  };
  started_at: string;
  status: RunStatus;
  failure: { actor: string; message: string; stack?: string } | null;
  warnings: string[];
  scenario: Scenario;
  wall_s: number;
  /** Starting the threads until all were ready, and stopping them after the run (not in wall_s). */
  phases: { startup_s: number; teardown_s: number };
  threads: ThreadCpu[];
}

/** A run of the model: the model's own figures besides KVM's statistics. */
export interface RunResult extends RunResultCommon {
  backend: 'model';
  vcpus: VcpuResult[];
  /** All vCPUs merged. */
  total: {
    wake_latency_ns: LatencySummary;
    timer_lateness_ns: LatencySummary;
    /** The merged timer-lateness distribution: [lower ns, upper ns, count] per non-empty log bucket (8 per power of two). */
    timer_lateness_hist: [number, number, number][];
    host_cpu_pct_per_vcpu: number;
    /** Mean over vCPUs of |sched.util_error|. */
    util_error_abs_mean: number;
    /** Deep idle time summed over pCPUs / wall time, % (of one pCPU). */
    deep_idle_pct: number;
  };
  /** The model's host actor: its hrtimers, scheduler and pCPUs. */
  host: {
    hrtimer_lateness_ns: LatencySummary;
    timers_fired: number;
    /** Times the host actor's thread woke: the model's own plumbing (no KVM counterpart). */
    actor_wakeups: number;
    preemptions: number;
    pcpu_busy_pct: number[];
    /** Per pCPU: time in each idle state (the power proxy), wakeups from each, exit latency paid. */
    pcpu_idle: { shallow_s: number; deep_s: number; exits_shallow: number; exits_deep: number; exit_latency_s: number }[];
    /** irq-wake: interrupts the I/O thread raised, and EOIs it got back through the resamplefd. */
    device_interrupts_raised?: number;
    device_eois?: number;
  };
  /** spinlock: the guest's own books, read from guest RAM after the run. */
  spinlock?: {
    acquisitions: number;
    releases: number;
    acquisitions_per_s: number;
    /** Entries into the critical section while another vCPU was inside, or with the lock word not its own: always 0. */
    mutual_exclusion_violations: number;
    /** Per acquisition, from the first attempt to holding the lock, measured by the guest. */
    spin_time_ns: LatencySummary;
  };
  /** sim-loop: the simulator's virtual time against wall time. */
  sim?: SimResult;
  /** deferred-work: the VMM's work queue. */
  deferred?: DeferredResult;
  /** dsync-io: the virtio-blk device, its I/O thread and backend. */
  block?: {
    backend: 'file' | 'synthetic';
    block_size: number;
    /** The same write loop on plain threads, no VM (then iothread is null and vcpus is empty). */
    bare_metal: boolean;
    requests_submitted: number;
    requests_completed: number;
    requests_per_s: number;
    /** Submit (before the notify) to the guest seeing the completion, measured by the guest. */
    io_latency_ns: LatencySummary;
    /** The device's own service time per request, measured on the thread that serves it (a pool thread, or the bare-metal thread). */
    service_ns: LatencySummary;
    /**
     * Time those threads spun to the synthetic device's deadlines (its final spin): CPU of the pool
     * threads in a VM run (counted in allThreadsCpuPct), of the bare-metal threads otherwise (already in their CPU).
     */
    service_spin_s: number;
    iothread: null | {
      poll_max_ns: number;
      poll_grow: number;
      poll_shrink: number;
      cpu_pct: number;
      aio_poll: { polled: number; blocked: number; ready: number; poll_ns: number; poll_time_ns: number };
    };
  };
}

/** The model-only parts are absent (undefined) or null, so code reading either backend's result can ask for them. */
export interface KvmRunResult extends RunResultCommon {
  backend: 'kvm';
  vcpus: KvmVcpuResult[];
  /** All vCPUs merged. */
  total: {
    wake_latency_ns: LatencySummary;
    timer_lateness_ns: LatencySummary;
    timer_lateness_hist: [number, number, number][];
    host_cpu_pct_per_vcpu: number;
    util_error_abs_mean: null;
    deep_idle_pct: null;
  };
  host: null;
  /** The run as the host saw it. */
  kvm: {
    /** KVM_CAP_HALT_POLL set on the VM (null: the module's halt_poll_ns). */
    halt_poll_cap_ns: number | null;
    /** The whole machine's busy share over the run (/proc/stat): polls abort when other tasks run. */
    machine_busy_pct: number;
    /** Every guest handler, entry to EOI. */
    guest_handler_ns: LatencySummary;
    /** irq-wake, mixed: interrupts the device thread raised through the irqfds, and EOIs back through the resamplefds. */
    device_interrupts_raised?: number;
    device_eois?: number;
  };
  spinlock?: undefined;
  sim?: undefined;
  deferred?: undefined;
  block?: undefined;
}

/** A run's result on either backend (`backend` tells which). */
export type AnyRunResult = RunResult | KvmRunResult;

export interface DeferredResult {
  /** Work items the VMM main loop queued, and per second. */
  created: number;
  created_per_s: number;
  /** Items run, by who ran them: workqueue threads, vCPU threads on idle exits, the main loop's fallback timer. */
  done: { workers: number; vcpus: number; fallback: number };
  /** Still queued at the end. */
  left: number;
  /** Items refused for a full ring (always 0). */
  overflows: number;
  /** How long items waited in the queue before someone started them, all and by who ran them. */
  wait_ns: { all: LatencySummary; workers: LatencySummary; vcpus: LatencySummary; fallback: LatencySummary };
  /** Items each vCPU thread ran, in vCPU order. */
  vcpu_items: number[];
}

/** sim-loop: per vCPU thread, averaged over the vCPUs. */
export interface SimResult {
  mode: 'exit-on-wfi' | 'watchdog' | 'kernel';
  /** Virtual time the simulator advanced; null for plain KVM, which has none (it runs in real time). */
  simulated_s: number | null;
  wall_s: number;
  /** simulated_s / wall_s; null for plain KVM (1 by definition, not a measurement). */
  sim_per_wall: number | null;
  /** Wall time polling or asleep in kvm_vcpu_block, waiting for the watchdog (plain KVM: the guest's idle). */
  blocked_in_kernel_s: number;
  blocked_share: number;
  /** KVM_RUN calls, those ended by the watchdog signal, those ended by an idle exit, virtual-time jumps, timer ticks, all summed over vCPUs. */
  quanta: number;
  watchdog_kicks: number;
  idle_exits: number;
  skips: number;
  ticks: number;
  /** Ticks due while the previous one was still pending, merged into it (not in `ticks`). */
  ticks_coalesced: number;
  /** Timer ticks the guest took (each tick once; one per vCPU may be pending at the stop). */
  ticks_injected: number;
}

export function haltlabVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function machineFacts(hostTimerSlackNs: number | null): RunResult['machine'] {
  return {
    cores: availableParallelism(),
    cpu_model: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    clock: CLOCK_DESCRIPTION,
    thread_cpu_source: cpuClockSource(),
    host_timer_slack_ns: hostTimerSlackNs,
  };
}

// Figures derived from a run result, shared by compare, sweep and the findings report.

/** `n` events over the run, per second of wall time. */
export const perSecond = (r: AnyRunResult, n: number): number => (r.wall_s > 0 ? n / r.wall_s : 0);

/** A KVM statistic (a counter or a time sum) summed over the vCPUs. */
export const sumVcpuStat = (r: AnyRunResult, name: string): number =>
  r.vcpus.reduce((a, v) => a + ((v.stats as Record<string, number | number[]>)[name] as number), 0);

/**
 * Every haltlab thread's CPU time over the run's wall time, % of one core; with the block pool's
 * spin to the synthetic device's deadlines (the pool threads are not in `threads`).
 */
export const allThreadsCpuPct = (r: AnyRunResult): number => {
  const poolSpin = r.backend === 'model' && r.block && !r.block.bare_metal ? r.block.service_spin_s : 0;
  return r.wall_s > 0 ? (100 * (r.threads.reduce((a, t) => a + t.cpu_s, 0) + poolSpin)) / r.wall_s : 0;
};

/**
 * What a vCPU costs the host, s: its thread's CPU time plus the wall time it
 * idled in guest mode with its pCPU kept (x86's native HLT/MWAIT under
 * KVM_CAP_X86_DISABLE_EXITS, arm64's untrapped WFI/WFE). The thread sleeps
 * meanwhile, so its OS CPU time misses it, but on a real host that pCPU runs
 * nothing else. At most the vCPU's wall time: CPU the model's wait loop spends
 * inside the idle period is part of the same held time.
 */
export const vcpuCostS = (v: AnyVcpuResult): number => {
  const held = v.cpu.state_s.native_idle ?? 0;
  return held + Math.min(v.cpu.thread_cpu_s, Math.max(0, v.cpu.wall_s - held));
};

/** Host CPU per vCPU as the host pays it (vcpuCostS), mean over vCPUs, % of one core. */
export const vcpuCostPct = (r: AnyRunResult): number =>
  r.vcpus.length ? r.vcpus.reduce((a, v) => a + (v.cpu.wall_s > 0 ? (100 * vcpuCostS(v)) / v.cpu.wall_s : 0), 0) / r.vcpus.length : 0;

/** Every thread's CPU time, each vCPU's counted as vcpuCostS, over the run's wall time, % of one core. */
export const allThreadsCostPct = (r: AnyRunResult): number =>
  allThreadsCpuPct(r) + (r.wall_s > 0 ? (100 * r.vcpus.reduce((a, v) => a + vcpuCostS(v) - v.cpu.thread_cpu_s, 0)) / r.wall_s : 0);
