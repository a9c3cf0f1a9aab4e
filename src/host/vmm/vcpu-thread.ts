import { now } from '../../actors/clock.ts';
import { setThreadTimerSlackNs } from '../../actors/cpu-time.ts';
import { LatencyRecorder, type EncodedLatency } from '../../actors/latency-recorder.ts';
import { liveRecord } from '../../actors/live-histogram.ts';
import { GuestCpu } from '../../guest/interpreter.ts';
import type { GuestProgram, SampleChannel } from '../../guest/isa.ts';
import type { Clockevent } from '../../guest/kernel/clockevent.ts';
import { kvmIoBus } from '../kvm/ioeventfd.ts';
import { KvmVcpu } from '../kvm/kvm-vcpu.ts';
import { VCPU } from '../kvm/vcpu-state.ts';
import type { PleParams } from '../kvm/ple.ts';
import { WAKE_LIVE } from '../layout.ts';
import { RUN_STATE, runStatesByName, type RUN_STATE_NAMES } from '../thread-state.ts';
import { serveVmActor, type VmActorConfig } from '../vm-actor.ts';
import { AIO, eventfdSignal } from './aio-context.ts';
import { SimulatorLoop, type SimConfig, type SimSnapshot } from './simulator-loop.ts';
import { runVcpuStateMachine } from './vcpu-state-machine.ts';
import { VmmVcpu, type IdleExitWork } from './vmm-vcpu.ts';
import { WORK_BY, WORK_QUEUE, workDepth, workDrain, type WorkQueueRecord } from './work-queue.ts';

/**
 * A vCPU thread, the VMM's half (Firecracker's vstate/vcpu): it creates its
 * vCPU (KvmVcpu), takes a pCPU, and runs the vCPU state machine over the
 * model's KVM_RUN, or the simulator's loop. Stop arrives as an event in shared
 * memory followed by a signal (KVM_EXIT_INTR), never through the control plane.
 */

export interface VcpuThreadConfig extends VmActorConfig {
  id: number;
  program: GuestProgram;
  /** kvm_intel's PLE parameters, as the module was loaded. */
  ple: PleParams;
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
  /** Its own hrtimer's expiries while it slept in kvm_vcpu_block (the host section merges them with the host actor's). */
  hrtimer_lateness: EncodedLatency;
  io_latency: EncodedLatency;
  spin_time: EncodedLatency;
  /** deferred-work: items this vCPU thread ran on its idle exits, and how long they had waited. */
  deferred_done: number;
  deferred_wait: EncodedLatency;
  sim: SimSnapshot | null;
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

/** deferred-work: an idle exit reached the VMM: use it for queued work (the proposal's point), then re-enter. */
class DeferredIdleWork implements IdleExitWork {
  done = 0;
  readonly wait = new LatencyRecorder();

  constructor(
    private readonly queue: WorkQueueRecord,
    private readonly cfg: { item_ns: number; vcpu_budget_ns: number },
  ) {}

  run(vcpu: KvmVcpu): void {
    if (workDepth(this.queue) === 0) return;
    vcpu.setRunState(RUN_STATE.VMM, now());
    this.done += workDrain(this.queue, this.cfg.item_ns, WORK_BY.VCPU, this.cfg.vcpu_budget_ns, (ns) => this.wait.record(ns));
  }
}

serveVmActor<VcpuThreadConfig, VcpuThreadSnapshot>(
  (ctx) => {
    const { config: cfg, mem, tracer } = ctx;
    const { id } = cfg;
    const wake = new LatencyRecorder();
    const wakeLive = mem.record(WAKE_LIVE, id);
    const samples: Record<SampleChannel, LatencyRecorder> = { timer_lateness: new LatencyRecorder(), io_latency: new LatencyRecorder(), spin_time: new LatencyRecorder() };
    // The guest's lazy tscdeadline page lives in the vCPU's shared record: guest memory the host maps.
    const block = mem.record(VCPU, id);
    const guest = new GuestCpu(cfg.program, { lazyTscdeadline: { f64: block.f64, armed: block.F.lazy_armed, pending: block.F.lazy_pending } });
    const vcpu = new KvmVcpu({
      mem,
      id,
      tracer,
      ple: cfg.ple,
      guest,
      observer: {
        injected: (_line, since, at) => {
          wake.record(at - since);
          liveRecord(wakeLive.i32, 0, at - since);
        },
        sample: (channel, value) => samples[channel].record(value),
      },
    });
    vcpu.ioBus = kvmIoBus(vcpu.kvm, (aio, n) => eventfdSignal(mem.record(AIO, aio), n));
    const deferred = cfg.deferred && new DeferredIdleWork(mem.record(WORK_QUEUE, 0), cfg.deferred);
    const emulator = cfg.sim ? new SimulatorLoop(vcpu, ctx, cfg.userspace_exits, cfg.sim) : new VmmVcpu(vcpu, ctx, cfg.userspace_exits, deferred);
    let sim: SimSnapshot | null = null;
    return {
      loop(): void {
        // A sleep in kvm_vcpu_block, a native HLT/MWAIT or an untrapped WFI/WFE waits with its own timer as
        // the timeout (the pinned hrtimer, the preemption timer, arm64's hardware timer): none has timer slack.
        setThreadTimerSlackNs(1);
        vcpu.setRunState(RUN_STATE.RUNNABLE, now());
        vcpu.sched.acquire(id);
        vcpu.setRunState(RUN_STATE.VMM, now());
        try {
          if (emulator instanceof SimulatorLoop) emulator.begin();
          runVcpuStateMachine(emulator);
        } finally {
          if (emulator instanceof SimulatorLoop) sim = emulator.finish();
          vcpu.sched.release(id);
          vcpu.setRunState(RUN_STATE.STOPPED, now());
        }
      },
      snapshot: () => ({
        id,
        wake_latency: wake.encode(),
        timer_lateness: samples.timer_lateness.encode(),
        hrtimer_lateness: vcpu.hrtimerLateness.encode(),
        io_latency: samples.io_latency.encode(),
        spin_time: samples.spin_time.encode(),
        deferred_done: deferred?.done ?? 0,
        sim,
        deferred_wait: (deferred?.wait ?? new LatencyRecorder()).encode(),
        runnable_wait_ns: vcpu.sched.runnableWaitNs(id),
        state_ns: runStatesByName(vcpu.thread),
        halt_poll_ns: vcpu.block.get('halt_poll_ns'),
        lapic_timer_advance_ns: vcpu.block.get('timer_advance_ns'),
        ple_window: vcpu.block.get('ple_window'),
        guest_haltpoll: guest.haltpoll ? { poll_limit_ns: guest.haltpoll.dev.poll_limit_ns, ...guest.haltpoll.counts } : null,
        util: vcpu.sched.util(id),
        guest_compute_ns: guest.computeNs,
        guest_clockevent: guest.clockevent ? { kind: guest.clockevent.kind, ...guest.clockevent.counts } : null,
      }),
    };
  },
  { state: null },
);
