import { availableParallelism, cpus } from 'node:os';
import { readFileSync } from 'node:fs';
import { CLOCK_DESCRIPTION } from '../actors/clock.ts';
import { cpuClockSource } from '../actors/cpu-time.ts';
import type { LatencySummary } from '../actors/histogram.ts';
import type { Scenario } from '../scenarios/schema.ts';
import type { ExitReason, ModelCounter, VcpuStatName } from './kvm/stats.ts';
import type { RunStatus } from '../actors/supervisor.ts';
import type { GuestHaltpollResult } from './vmm/vcpu-thread.ts';

/** The results of one run: stable keys, documented in docs/results.md. Times in ns unless the key says otherwise. */
export interface VcpuResult {
  id: number;
  /** KVM's statistics under KVM's names: counters, *_ns sums, *_hist 32-bucket log2 histograms. */
  stats: Record<VcpuStatName, number | number[]>;
  exit_reasons: Record<ExitReason, number>;
  /** Counters of the model that KVM has no statistic for. */
  model: Record<ModelCounter, number>;
  /** vcpu->halt_poll_ns at the end of the run. */
  halt_poll_ns: number;
  /** vmx->ple_window at the end of the run, cycles (= ns). */
  ple_window: number;
  /** The guest's cpuidle-haltpoll governor, when the guest loaded it (null otherwise). */
  guest_haltpoll: GuestHaltpollResult | null;
  /** From an interrupt becoming pending to the vCPU running guest code again. */
  wake_latency_ns: LatencySummary;
  /** Guest timer handler entry minus the programmed deadline (kvm-unit-tests tscdeadline_latency). */
  timer_lateness_ns: LatencySummary;
  /** Samples that would have been early (< 0): the model must never deliver a timer early. */
  timer_early_count: number;
  cpu: {
    thread_cpu_s: number;
    wall_s: number;
    /** thread CPU / wall: the host CPU this vCPU thread cost, % of one core. */
    host_cpu_pct: number;
    /** Wall time per state of the vCPU thread, seconds. */
    state_s: Record<string, number>;
  };
}

export interface ThreadCpu {
  thread: string;
  cpu_s: number;
  wall_s: number;
  /** The thread's V8 heap in use at the end, bytes (threads share the process's RSS; heaps are their own). */
  heap_bytes: number;
}

export interface RunResult {
  haltlab: { version: string };
  machine: {
    cores: number;
    cpu_model: string;
    node: string;
    platform: string;
    clock: string;
    thread_cpu_source: string;
    /** Timer slack of the host actor thread that stands in for hrtimer interrupts, ns. */
    host_timer_slack_ns: number | null;
  };
  started_at: string;
  status: RunStatus;
  failure: { actor: string; message: string; stack?: string } | null;
  warnings: string[];
  scenario: Scenario;
  wall_s: number;
  /** Starting the threads until all were ready, and stopping them after the run (not in wall_s). */
  phases: { startup_s: number; teardown_s: number };
  vcpus: VcpuResult[];
  /** All vCPUs merged. */
  total: { wake_latency_ns: LatencySummary; timer_lateness_ns: LatencySummary; host_cpu_pct_per_vcpu: number };
  host: {
    hrtimer_lateness_ns: LatencySummary;
    timers_fired: number;
    preemptions: number;
    pcpu_busy_pct: number[];
    /** irq-wake: interrupts the I/O thread raised, and EOIs it got back through the resamplefd. */
    device_interrupts_raised?: number;
    device_eois?: number;
  };
  threads: ThreadCpu[];
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
  /** dsync-io: the virtio-blk device, its I/O thread and backend. */
  block?: {
    backend: 'file' | 'synthetic';
    block_size: number;
    requests_submitted: number;
    requests_completed: number;
    requests_per_s: number;
    /** Submit (before the notify) to the guest seeing the completion, measured by the guest. */
    io_latency_ns: LatencySummary;
    iothread: {
      poll_max_ns: number;
      poll_grow: number;
      poll_shrink: number;
      cpu_pct: number;
      aio_poll: { polled: number; blocked: number; ready: number; poll_ns: number; poll_time_ns: number };
    };
  };
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
