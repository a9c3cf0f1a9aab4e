import { now } from '../actors/clock.ts';
import { threadCpuNsOf } from '../actors/cpu-time.ts';
import { liveRead } from '../actors/live-histogram.ts';
import type { FaultSpec } from '../host/faults.ts';
import { ARM64_EXIT_REASONS, readVcpuStats, X86_EXIT_REASONS } from '../host/kvm/stats.ts';
import type { KvmParams } from '../host/kvm/params.ts';
import { vcpuRecords, WAKE_LIVE } from '../host/layout.ts';
import type { AnyRunResult, Backend } from '../host/results.ts';
import { readRunStates, RUN_STATE, RUN_STATE_NAMES, THREAD, threadIdOf } from '../host/thread-state.ts';
import { createVm } from '../host/vm.ts';
import { KvmRun } from '../real-kvm/run.ts';
import type { Scenario } from '../scenarios/schema.ts';
import type { Counters } from './counters.ts';

/**
 * The VM the demo runs, on either backend: the model's (its shared memory read directly) or real
 * KVM's (its stats fds, the guest's samples, /proc). The live view and the session summary are
 * both differences of two `counters()` reads; the controls are the changes a VMM can make while
 * its VM runs.
 */
export interface DemoVm {
  readonly backend: Backend;
  readonly scenario: Scenario;
  run(opts: { signal: AbortSignal; durationMs: number; faults: FaultSpec[] }): Promise<AnyRunResult>;
  /** Seconds the guest has run (0 until its threads are up). */
  elapsedS(): number;
  readonly paused: boolean;
  pause(): void;
  resume(): void;
  /** The cumulative counters now. */
  counters(): Counters;
  /** Exit reasons the page shows, in order. */
  readonly exitReasons: readonly string[];
  /** KVM_ENABLE_CAP(KVM_CAP_HALT_POLL) on the running VM. */
  enableCapHaltPoll(ns: number): void;
  /** A kvm module parameter changed for the running VM (real KVM: halt_poll_ns only, through KVM_CAP_HALT_POLL; the session checks first). */
  setKvmParam(name: keyof KvmParams, value: number): void;
}

export function createDemoVm(scenario: Scenario, backend: Backend): DemoVm {
  return backend === 'kvm' ? kvmDemoVm(new KvmRun(scenario)) : modelDemoVm(scenario);
}

function modelDemoVm(scenario: Scenario): DemoVm {
  const vm = createVm(scenario);
  return {
    backend: 'model',
    scenario,
    run: (o) => vm.run(o),
    elapsedS: () => vm.elapsedS(),
    get paused() {
      return vm.paused;
    },
    pause: () => vm.pause(),
    resume: () => vm.resume(),
    counters() {
      const at = now();
      const vcpus = Array.from({ length: scenario.vm.vcpus }, (_, id) => {
        const vcpu = vcpuRecords(vm.mem, id);
        const { stats, exit_reasons } = readVcpuStats(vcpu.stats);
        return {
          stats: Object.fromEntries(Object.entries(stats).filter((e): e is [string, number] => typeof e[1] === 'number')),
          exit_reasons: { ...exit_reasons } as Record<string, number>,
          wake: liveRead(vm.mem.record(WAKE_LIVE, id).i32, 0),
          halt_poll_ns: vcpu.block.get('halt_poll_ns') as number | null,
        };
      });
      const threads = vm.threads().map((t) => {
        const rec = vm.mem.record(THREAD, t.slot);
        return { name: t.name, kind: t.kind, cpu_ns: threadCpuNsOf(threadIdOf(rec)), state_ns: readRunStates(rec, at) };
      });
      return { at, vcpus, threads };
    },
    // The VM's architecture's own exit names (arm64 keeps the model's interrupt window too).
    exitReasons: scenario.host.arch === 'arm64' ? [...ARM64_EXIT_REASONS, 'INTERRUPT_WINDOW'] : X86_EXIT_REASONS,
    enableCapHaltPoll: (ns) => vm.enableCapHaltPoll(ns),
    setKvmParam: (name, value) => vm.setKvmParams({ [name]: value }),
  };
}

/** The reasons KVM counts in a statistic of its own, by the stat's name. */
const KVM_EXIT_STATS: Record<string, string> = { HLT: 'halt_exits', EXTERNAL_INTERRUPT: 'irq_exits', INTERRUPT_WINDOW: 'irq_window_exits', IO_INSTRUCTION: 'io_exits' };

function kvmDemoVm(run: KvmRun): DemoVm {
  const startedAt = () => now() - run.elapsedS() * 1e9;
  return {
    backend: 'kvm',
    scenario: run.scenario,
    run: (o) => run.run(o),
    elapsedS: () => run.elapsedS(),
    get paused() {
      return run.paused;
    },
    pause: () => run.pause(),
    resume: () => run.resume(),
    counters() {
      const at = now();
      const wake = run.wakeBuckets();
      const stats = run.stats();
      const vcpus = wake.map((w, id) => {
        const s = stats[id] ?? {};
        return {
          stats: s,
          exit_reasons: Object.fromEntries(Object.entries(KVM_EXIT_STATS).map(([r, k]) => [r, s[k] ?? 0])),
          wake: Float64Array.from(w),
          // vcpu->halt_poll_ns: the kernel exports no statistic of it.
          halt_poll_ns: null,
        };
      });
      const up = run.elapsedS() > 0 ? at - startedAt() : 0;
      const threads = run.threads().map((t, slot) => {
        const state_ns = new Float64Array(RUN_STATE_NAMES.length);
        const s = stats[slot];
        if (t.kind === 'vcpu' && s) {
          // KVM's own halt accounting, as the run's result splits a vCPU thread's time.
          state_ns[RUN_STATE.POLLING] = (s.halt_poll_success_ns ?? 0) + (s.halt_poll_fail_ns ?? 0);
          state_ns[RUN_STATE.BLOCKED] = s.halt_wait_ns ?? 0;
          state_ns[RUN_STATE.VMM] = t.vmm_ns + t.paused_ns;
          state_ns[RUN_STATE.GUEST] = Math.max(0, up - state_ns[RUN_STATE.POLLING] - state_ns[RUN_STATE.BLOCKED] - state_ns[RUN_STATE.VMM]);
        }
        return { name: t.name, kind: t.kind, cpu_ns: threadCpuNsOf(t.tid), state_ns };
      });
      return { at, vcpus, threads };
    },
    exitReasons: Object.keys(KVM_EXIT_STATS),
    enableCapHaltPoll: (ns) => run.enableCapHaltPoll(ns),
    setKvmParam: (name, value) => {
      // halt_poll_ns is the one a VMM sets per VM; the rest are the host's, fixed at module load (kvmRefusals).
      if (name !== 'halt_poll_ns') throw new Error(`${name}: real KVM cannot change it per VM`);
      run.enableCapHaltPoll(value);
    },
  };
}
