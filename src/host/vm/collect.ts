import { availableParallelism } from 'node:os';
import { decodeLatency, logBuckets, mergeLatency, summarize } from '../../actors/histogram.ts';
import type { RunOutcome } from '../../actors/supervisor.ts';
import { workloadModule, type Cost } from '../../workloads/index.ts';
import { readVcpuStats, VCPU_STAT } from '../kvm/stats.ts';
import { inertKnobs, inertWarning } from '../../scenarios/inert.ts';
import { haltlabVersion, machineFacts, type RunResult, type ThreadCpu, type VcpuResult } from '../results.ts';
import type { HostActorSnapshot } from '../host-actor.ts';
import type { VcpuThreadSnapshot } from '../vmm/vcpu-thread.ts';
import type { BuiltVm } from './build.ts';

/**
 * A run's results from the threads' snapshots and the VM's shared memory:
 * the vCPUs (KVM's statistics and the model's own figures), their totals, the
 * host actor's, and the workload's own section (its module's result()).
 */

export interface Snapshots {
  host: Cost<HostActorSnapshot> | undefined;
  vcpus: (Cost<VcpuThreadSnapshot> | undefined)[];
  /** The workload's VMM threads, by name, in the order its module started them. */
  vmm: { name: string; snap: Cost<unknown> | undefined }[];
}

const threadCpu = (thread: string, s: Cost<unknown>): ThreadCpu => ({ thread, cpu_s: s.thread_cpu_ns / 1e9, wall_s: s.wall_ns / 1e9, heap_bytes: s.heap_used_bytes });

export function collectResults(vm: BuiltVm, startedAt: string, outcome: RunOutcome, wallS: number, snaps: Snapshots): RunResult {
  const { scenario, mem, collector } = vm;
  const host = snaps.host;
  // Knobs set that nothing in this scenario reads: a comparison would show noise as their effect.
  const warnings: string[] = inertKnobs(scenario).map(inertWarning);
  const cores = availableParallelism();
  if (scenario.host.pcpus > cores) {
    warnings.push(`the scenario has ${scenario.host.pcpus} pCPUs but this machine has ${cores} cores: wall-clock figures include that contention`);
  }
  if (collector && collector.dropped > 0) {
    warnings.push(`the trace lost ${collector.dropped} events (a thread's ring was full, or the trace reached its size cap)`);
  }
  if (host && host.timer_slack_ns !== null && host.timer_slack_ns > 1000) {
    warnings.push(`host actor timer slack is ${host.timer_slack_ns} ns (could not lower it): sleeping vCPUs' timers fire up to that late`);
  }
  if (scenario.host.proposals.lazy_tscdeadline && !snaps.vcpus.some((s) => s?.guest_clockevent?.kind === 'kvm-lazy-tscdeadline')) {
    warnings.push(`lazy_tscdeadline is on, but the ${scenario.workload.kind} guest writes MSR_IA32_TSC_DEADLINE directly (kvm-unit-tests style), not through its kernel's clockevent: the proposal changes nothing here (hrtimer-rearm uses it)`);
  }
  const vcpus: VcpuResult[] = [];
  snaps.vcpus.forEach((s, id) => {
    if (!s) {
      warnings.push(`vcpu${id} returned no results`);
      return;
    }
    vcpus.push(vcpuResult(id, s, readVcpuStats(mem.record(VCPU_STAT, id))));
  });
  const present = snaps.vcpus.filter((s): s is Cost<VcpuThreadSnapshot> => s !== undefined);
  const threads = [
    ...(host ? [threadCpu('host', host)] : []),
    ...present.map((s) => threadCpu(`vcpu${s.id}`, s)),
    ...snaps.vmm.flatMap(({ name, snap }) => (snap ? [threadCpu(name, snap)] : [])),
  ];
  const w = scenario.workload;
  const { host: hostExtra, ...section } = workloadModule(w).result?.(w, { mem, wallS, vcpus, vcpuSnaps: present, vmm: snaps.vmm.map((t) => t.snap), iothread: scenario.vmm.iothread }) ?? {};
  const lateness = mergeLatency(present.map((s) => s.timer_lateness));
  // The hrtimer is the host's whichever thread ran it: the host actor, or a sleeping vCPU's own timed wait.
  const hrtimer = mergeLatency([...present.map((s) => s.hrtimer_lateness), ...(host ? [host.hrtimer_lateness] : [])]);
  return {
    haltlab: { version: haltlabVersion() },
    backend: 'model',
    machine: machineFacts(host?.timer_slack_ns ?? null),
    started_at: startedAt,
    status: outcome.status,
    failure: outcome.failure ?? null,
    warnings,
    scenario,
    wall_s: wallS,
    phases: { startup_s: 0, teardown_s: 0 },
    vcpus,
    total: {
      wake_latency_ns: summarize(mergeLatency(present.map((s) => s.wake_latency))),
      timer_lateness_ns: summarize(lateness),
      timer_lateness_hist: logBuckets(lateness),
      host_cpu_pct_per_vcpu: vcpus.length ? vcpus.reduce((a, v) => a + v.cpu.host_cpu_pct, 0) / vcpus.length : 0,
      util_error_abs_mean: vcpus.length ? vcpus.reduce((a, v) => a + Math.abs(v.sched.util_error), 0) / vcpus.length : 0,
      deep_idle_pct: host && host.wall_ns > 0 ? (100 * host.pcpu_idle.reduce((a, p) => a + p.deep_ns, 0)) / host.wall_ns : 0,
    },
    host: {
      hrtimer_lateness_ns: summarize(hrtimer),
      timers_fired: hrtimer.totalCount, // one lateness sample per expiry fired
      actor_wakeups: host?.wakeups ?? 0,
      preemptions: host?.preemptions ?? 0,
      ...hostExtra,
      pcpu_busy_pct: host ? host.pcpu_busy_ns.map((b) => (host.wall_ns > 0 ? (100 * b) / host.wall_ns : 0)) : [],
      pcpu_idle: (host?.pcpu_idle ?? []).map((p) => ({
        shallow_s: p.shallow_ns / 1e9,
        deep_s: p.deep_ns / 1e9,
        exits_shallow: p.exits_shallow,
        exits_deep: p.exits_deep,
        exit_latency_s: p.exit_latency_ns / 1e9,
      })),
    },
    threads,
    ...section,
  };
}

function vcpuResult(id: number, s: Cost<VcpuThreadSnapshot>, stats: ReturnType<typeof readVcpuStats>): VcpuResult {
  const wall = s.wall_ns / 1e9;
  const cpu = s.thread_cpu_ns / 1e9;
  const busy = s.wall_ns > 0 ? s.guest_compute_ns / s.wall_ns : 0;
  return {
    id,
    ...stats,
    halt_poll_ns: s.halt_poll_ns,
    lapic_timer_advance_ns: s.lapic_timer_advance_ns,
    ple_window: s.ple_window,
    guest_haltpoll: s.guest_haltpoll,
    guest_clockevent: s.guest_clockevent,
    wake_latency_ns: summarize(decodeLatency(s.wake_latency)),
    timer_lateness_ns: summarize(decodeLatency(s.timer_lateness)),
    sched: { util: s.util, guest_busy_share: busy, util_error: s.util - busy },
    timer_early_count: s.timer_lateness.negative,
    cpu: {
      thread_cpu_s: cpu,
      wall_s: wall,
      host_cpu_pct: wall > 0 ? (100 * cpu) / wall : 0,
      state_s: Object.fromEntries(Object.entries(s.state_ns).map(([k, v]) => [k, v / 1e9])),
    },
  };
}
