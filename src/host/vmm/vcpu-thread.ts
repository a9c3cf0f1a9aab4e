import { getHeapStatistics } from 'node:v8';
import { serveActor } from '../../actors/actor.ts';
import { now } from '../../actors/clock.ts';
import { setThreadTimerSlackNs, threadCpuNs } from '../../actors/cpu-time.ts';
import { futexWait } from '../../actors/futex.ts';
import { LatencyRecorder, type EncodedLatency } from '../../actors/histogram.ts';
import { SharedMemory } from '../../actors/shared-memory.ts';
import { GuestCpu } from '../../guest/interpreter.ts';
import type { GuestProgram, SampleChannel } from '../../guest/isa.ts';
import { KVM_EXIT, KvmVcpu } from '../kvm/vcpu.ts';
import { kvmIoBus } from '../kvm/ioeventfd.ts';
import { RUN_STATE, RUN_STATE_NAMES, V, VF } from '../kvm/vcpu-state.ts';
import { publishThreadId, runStatesByName } from '../thread-state.ts';
import { liveRecord } from '../../actors/live-histogram.ts';
import type { Clockevent } from '../../guest/kernel/clockevent.ts';
import { Scheduler } from '../sched/scheduler.ts';
import { TF } from '../sched/task-state.ts';
import { guestMemory, tracerFor, vcpuShared, VM_I, WAKE_LIVE_REGION } from '../layout.ts';
import type { PleParams } from '../kvm/ple.ts';
import { readVmExitConfig } from '../kvm/caps.ts';
import { statIndex } from '../kvm/stats.ts';
import { vmmHaltWait } from './userspace-halt.ts';
import { runSimLoop, type SimConfig, type SimSnapshot } from './sim-loop.ts';
import { WORK_BY, WORK_QUEUE_REGION, workDepth, workDrain } from './work-queue.ts';
import { checkFault, FAULTS_REGION } from '../faults.ts';

/**
 * A vCPU thread, the VMM's half (Firecracker's vstate/vcpu): KVM_RUN in a loop,
 * handling what KVM returns to userspace. Stop arrives as an event in shared
 * memory followed by a signal (KVM_EXIT_INTR), never through the control plane.
 * KVM_EXIT_HLT without an in-kernel irqchip: the VMM waits for an interrupt
 * itself. KVM_EXIT_HLT / KVM_EXIT_MWAIT of the 2023 proposal: counted, then
 * re-entered at once (the VMM's deferred work on them is a later issue).
 */

const KVM_EXIT_HLT_COUNT = statIndex('kvm_exit_hlt');
const KVM_EXIT_MWAIT_COUNT = statIndex('kvm_exit_mwait');
const KVM_EXIT_WFX_COUNT = statIndex('kvm_exit_wfx');

export interface VcpuThreadConfig {
  id: number;
  program: GuestProgram;
  /** kvm_intel's PLE parameters, as the module was loaded. */
  ple: PleParams;
  /** This thread's index among the VM's actors: its trace ring and its fault word. */
  slot: number;
  /** The 2023 proposal's kvm_run->userspace_exits, set before every KVM_RUN (0: none). */
  userspace_exits: number;
  /** deferred-work: the VMM's queue, which this thread serves on HLT/MWAIT exits (seeds/000). */
  deferred: { item_ns: number; vcpu_budget_ns: number } | null;
  /** sim-loop: this thread runs a simulator's single-threaded loop instead of a VMM's KVM_RUN loop. */
  sim: SimConfig | null;
}

export interface VcpuThreadSnapshot {
  id: number;
  wake_latency: EncodedLatency;
  timer_lateness: EncodedLatency;
  io_latency: EncodedLatency;
  spin_time: EncodedLatency;
  /** deferred-work: items this vCPU thread ran on its idle exits, and how long they had waited. */
  deferred_done: number;
  deferred_wait: EncodedLatency;
  sim: SimSnapshot | null;
  thread_cpu_ns: number;
  /** V8 heap in use by this thread's isolate, bytes. */
  heap_used_bytes: number;
  wall_ns: number;
  runnable_wait_ns: number;
  state_ns: Record<(typeof RUN_STATE_NAMES)[number], number>;
  halt_poll_ns: number;
  lapic_timer_advance_ns: number;
  ple_window: number;
  guest_haltpoll: GuestHaltpollResult | null;
  /** The host scheduler's PELT-like utilisation of this thread at its end. */
  util: number;
  /** Time the guest spent in `compute`, ns. */
  guest_compute_ns: number;
  guest_clockevent: GuestClockeventResult | null;
}

export interface GuestClockeventResult {
  /** The set_next_event the guest kernel chose at boot. */
  kind: Clockevent;
  set_next_event: number;
  pending_only: number;
}

export interface GuestHaltpollResult {
  poll_limit_ns: number;
  polls: number;
  polls_timed_out: number;
  halts: number;
}

export type VcpuThreadApi = ReturnType<typeof makeVcpuThread>;

function makeVcpuThread(start: { sab: SharedArrayBuffer; layout: SharedMemory['layout']; config: VcpuThreadConfig }) {
  const mem = new SharedMemory(start.sab, start.layout);
  const { id, program, slot, ple, userspace_exits, deferred, sim } = start.config;
  let simResult: SimSnapshot | null = null;
  const workQueue = mem.record(WORK_QUEUE_REGION, 0);
  const workWait = new LatencyRecorder();
  let workDone = 0;
  /** An idle exit reached the VMM: use it for queued work (the proposal's point), then re-enter. */
  const idleExitWork = () => {
    if (!deferred || workDepth(workQueue) === 0) return;
    kvm.setRunState(RUN_STATE.VMM, now());
    workDone += workDrain(workQueue, deferred.item_ns, WORK_BY.VCPU, deferred.vcpu_budget_ns, (ns) => workWait.record(ns));
  };
  const shared = vcpuShared(mem, id);
  const tracer = tracerFor(mem, slot);
  const fault = mem.record(FAULTS_REGION, slot);
  const sched = new Scheduler(mem, tracer);
  const vmm = mem.record('vmm', 0);
  const wake = new LatencyRecorder();
  const wakeLive = mem.record(WAKE_LIVE_REGION, id);
  const samples: Record<SampleChannel, LatencyRecorder> = { timer_lateness: new LatencyRecorder(), io_latency: new LatencyRecorder(), spin_time: new LatencyRecorder() };
  let cpuNs = 0;
  let wallNs = 0;

  // The guest's lazy tscdeadline page lives in the vCPU's shared record: guest memory the host maps.
  const guest = new GuestCpu(program, { lazyTscdeadline: { f64: shared.v.f64, armed: VF.lazy_armed, pending: VF.lazy_pending } });
  const host = mem.record('host', 0);
  const caps = readVmExitConfig(mem.record('kvm', 0));
  const vcpus = Array.from({ length: mem.count('vcpu') }, (_, i) => (i === id ? shared : vcpuShared(mem, i)));
  const kvm = new KvmVcpu(shared, id, sched, host, mem.record('kvm', 0), guest, guestMemory(mem), {
    injected: (_line, since, at) => {
      wake.record(at - since);
      liveRecord(wakeLive.i32, 0, at - since);
    },
    sample: (channel, value) => samples[channel].record(value),
  }, tracer, { ple, vcpus });
  kvm.ioBus = kvmIoBus(mem, mem.record('kvm', 0));

  /** The VM is stopped (QEMU's pause_all_vcpus): wait in the VMM, off the pCPU, until resumed. */
  const waitWhilePaused = () => {
    if (!Atomics.load(vmm.i32, VM_I.paused)) return;
    kvm.setRunState(RUN_STATE.VMM, now());
    sched.release(id);
    while (Atomics.load(vmm.i32, VM_I.paused) && !Atomics.load(vmm.i32, VM_I.stop)) futexWait(vmm.i32, VM_I.paused, 1);
    kvm.setRunState(RUN_STATE.RUNNABLE, now());
    sched.acquire(id);
    kvm.setRunState(RUN_STATE.VMM, now());
  };

  return {
    ready: () => true,
    run(): void {
      publishThreadId(shared.t);
      // A native HLT/MWAIT, or an untrapped WFI/WFE (arm64, whose timer is a hardware timer that wakes the
      // core at once), waits with its own timer as the timeout (the preemption timer): make it precise.
      if (caps.hltInGuest || caps.mwaitInGuest || kvm.arm64) setThreadTimerSlackNs(1);
      const cpu0 = threadCpuNs();
      const t0 = now();
      kvm.setRunState(RUN_STATE.RUNNABLE, t0);
      sched.acquire(id);
      kvm.setRunState(RUN_STATE.VMM, now());
      try {
        if (sim) {
          Atomics.store(shared.v.i32, V.userspace_exits, userspace_exits);
          simResult = runSimLoop(sim, kvm, shared, host, () => Atomics.load(vmm.i32, VM_I.stop) !== 0, waitWhilePaused);
          return;
        }
        for (;;) {
          Atomics.store(shared.v.i32, V.userspace_exits, userspace_exits);
          const exit = kvm.run();
          kvm.setRunState(RUN_STATE.VMM, now());
          if (exit === KVM_EXIT.SHUTDOWN) break;
          if (exit === KVM_EXIT.HLT) {
            Atomics.add(shared.s.i32, KVM_EXIT_HLT_COUNT, 1);
            idleExitWork();
            if (!caps.irqchipInKernel) {
              vmmHaltWait({ vcpu: shared, task: id, sched, host, hasEvents: () => kvm.hasEvents(), setRunState: (s, at) => kvm.setRunState(s, at) });
              kvm.setRunState(RUN_STATE.VMM, now());
            }
            continue;
          }
          if (exit === KVM_EXIT.WFX) {
            // The WFI is done as far as the guest knows: the VMM must wait for the next event itself.
            Atomics.add(shared.s.i32, KVM_EXIT_WFX_COUNT, 1);
            idleExitWork();
            vmmHaltWait({ vcpu: shared, task: id, sched, host, hasEvents: () => kvm.hasEvents(), setRunState: (s, at) => kvm.setRunState(s, at) });
            kvm.setRunState(RUN_STATE.VMM, now());
            continue;
          }
          if (exit === KVM_EXIT.MWAIT) {
            Atomics.add(shared.s.i32, KVM_EXIT_MWAIT_COUNT, 1);
            idleExitWork();
            continue;
          }
          if (exit === KVM_EXIT.INTR) {
            Atomics.store(shared.v.i32, V.signal_pending, 0); // the signal has been taken
            if (Atomics.load(vmm.i32, VM_I.stop)) break;
            checkFault(fault, `vcpu${id}`, 'handling KVM_EXIT_INTR in the VMM');
            waitWhilePaused();
          }
        }
      } finally {
        sched.release(id);
        const t1 = now();
        kvm.setRunState(RUN_STATE.STOPPED, t1);
        wallNs = t1 - t0;
        cpuNs = threadCpuNs() - cpu0;
      }
    },
    snapshot(): VcpuThreadSnapshot {
      return {
        id,
        wake_latency: wake.encode(),
        timer_lateness: samples.timer_lateness.encode(),
        io_latency: samples.io_latency.encode(),
        spin_time: samples.spin_time.encode(),
        deferred_done: workDone,
        sim: simResult,
        deferred_wait: workWait.encode(),
        thread_cpu_ns: cpuNs,
        heap_used_bytes: getHeapStatistics().used_heap_size,
        wall_ns: wallNs,
        runnable_wait_ns: sched.tasks[id].f64[TF.runnable_wait_ns],
        state_ns: runStatesByName(shared.t),
        halt_poll_ns: shared.v.f64[VF.halt_poll_ns],
        lapic_timer_advance_ns: shared.v.f64[VF.timer_advance_ns],
        ple_window: shared.v.f64[VF.ple_window],
        guest_haltpoll: guest.haltpoll ? { poll_limit_ns: guest.haltpoll.dev.poll_limit_ns, ...guest.haltpoll.counts } : null,
        util: sched.util(id),
        guest_compute_ns: guest.computeNs,
        guest_clockevent: guest.clockevent ? { kind: guest.clockevent.kind, ...guest.clockevent.counts } : null,
      };
    },
  };
}

serveActor(makeVcpuThread);
