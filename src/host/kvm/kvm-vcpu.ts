import { now } from '../../actors/clock.ts';
import { LatencyRecorder } from '../../actors/latency-recorder.ts';
import type { SharedMemory } from '../../actors/shared-memory.ts';
import type { GuestCpu } from '../../guest/interpreter.ts';
import type { SampleChannel } from '../../guest/isa.ts';
import { EV, NO_TRACE, type Tracer } from '../../trace/tracer.ts';
import { guestMemory, vcpuRecords } from '../layout.ts';
import type { GuestMemory } from '../guest-memory.ts';
import { Scheduler } from '../sched/scheduler.ts';
import { HOST, type HostRecord } from '../sched/task-state.ts';
import { enterRunState, resetRunStates, RUN_STATE, type ThreadRecord } from '../thread-state.ts';
import type { KvmVcpuArch } from './arch.ts';
import { VcpuGuestHost } from './guest-host.ts';
import { Arm64Vcpu } from './arm64/arm64.ts';
import { readVmExitConfig, type VmExitConfig } from './caps.ts';
import type { HaltPollCap, HaltPollParams } from './halt-poll.ts';
import type { KvmIoBus } from './ioeventfd.ts';
import { fireTimerOnVcpu, timerDueOnVcpu } from './lapic-timer.ts';
import { PLE_DEFAULTS, type PleParams } from './ple.ts';
import { kvmSchedIn, kvmSchedOut } from './preempt-notifier.ts';
import type { VcpuStatRecord } from './stats.ts';
import type { VcpuRecords } from './vcpu-records.ts';
import { VCPU, type VcpuRecord } from './vcpu-state.ts';
import { archOf, KVM, type Arch, type KvmRecord } from './vm-state.ts';
import { X86Vcpu } from './x86/x86.ts';

/**
 * struct kvm_vcpu: everything KVM's code for one vCPU reaches from `vcpu`,
 * built once on the vCPU's thread (KVM_CREATE_VCPU). Its shared records (the
 * VCPU record other threads kick and time, its statistics, its thread's run
 * state), the VM (`vcpu->kvm`), the host scheduler's view of its thread, the
 * guest CPU it runs, the LAPIC's in-service state, and its architecture's
 * half (`vcpu->arch`, chosen from the VM's architecture). KVM_RUN
 * (vcpu.ts), the halt path (halt.ts) and the VMM's loops are functions of it.
 */

export interface VcpuObserver {
  /** An interrupt on `line`, pending since `pendingSince`, was injected, and guest code runs again at `at`. */
  injected(line: number, pendingSince: number, at: number): void;
  sample(channel: SampleChannel, value: number): void;
}

const NO_OBSERVER: VcpuObserver = { injected() {}, sample() {} };

/** Each architecture's half of a vCPU, by the VM's architecture (KVM_CREATE_VM chose it). */
const ARCHES: Record<Arch, (vcpu: KvmVcpu, ple: PleParams) => KvmVcpuArch> = {
  x86: (vcpu, ple) => new X86Vcpu(vcpu, ple),
  arm64: (vcpu) => new Arm64Vcpu(vcpu),
};

export interface KvmVcpuOptions {
  mem: SharedMemory;
  id: number;
  guest: GuestCpu;
  observer?: VcpuObserver;
  tracer?: Tracer;
  /** This thread's view of the host scheduler (one per thread: its sched hooks are this thread's). */
  sched?: Scheduler;
  /** kvm_intel's PLE parameters, as the module was loaded (x86). */
  ple?: PleParams;
  /** The VM's in-kernel port I/O devices (ioeventfds), if the VMM registered some. */
  ioBus?: KvmIoBus;
}

export class KvmVcpu<A extends KvmVcpuArch = KvmVcpuArch> implements VcpuRecords {
  readonly id: number;
  /** Its thread's task in the host scheduler (= its id). */
  readonly task: number;
  readonly block: VcpuRecord;
  readonly stats: VcpuStatRecord;
  readonly thread: ThreadRecord;
  /** Every vCPU of the VM, by index: kvm_for_each_vcpu (directed yield's candidates). */
  readonly vcpus: readonly VcpuRecords[];
  readonly kvm: KvmRecord;
  readonly host: HostRecord;
  readonly sched: Scheduler;
  readonly guest: GuestCpu;
  readonly mem: GuestMemory;
  readonly observer: VcpuObserver;
  readonly tracer: Tracer;
  /** The VM's irqchip and exit capabilities, fixed before this vCPU was created. */
  readonly caps: VmExitConfig;
  /** Posted interrupts (APICv/AVIC). */
  readonly apicv: boolean;
  /** The host's VM exit + entry cost, paid as busy time on every exit. */
  readonly exitCostNs: number;
  readonly arch: A;
  /** What guest execution asks of this vCPU at its instruction boundaries. */
  readonly guestHost: VcpuGuestHost;
  ioBus: KvmIoBus | null;
  /** LAPIC: the line injected and not yet seen by running guest code (-1: none), and when it became pending. */
  injectedLine = -1;
  injectedSince = 0;
  /** LAPIC: lines injected and not yet EOI'd, innermost last (the ISR, as a stack). */
  readonly inService: number[] = [];
  /** Between KVM_RUN's vcpu_load() and vcpu_put(). */
  loaded = false;
  /** vcpu->scheduled_out: its thread lost its pCPU since the last load. */
  scheduledOut = false;
  /** The module parameters and the VM's cap, re-read on every halt into these. */
  readonly haltPollParams: HaltPollParams = { halt_poll_ns: 0, halt_poll_ns_grow: 0, halt_poll_ns_grow_start: 0, halt_poll_ns_shrink: 0 };
  readonly haltPollCap: HaltPollCap = { override_halt_poll_ns: false, max_halt_poll_ns: 0 };
  /** Lateness of the hrtimer expiries this thread ran for itself while asleep (the host actor keeps its own). */
  readonly hrtimerLateness = new LatencyRecorder();

  constructor(o: KvmVcpuOptions) {
    const { mem, id } = o;
    const records = vcpuRecords(mem, id);
    this.id = id;
    this.task = id;
    this.block = records.block;
    this.stats = records.stats;
    this.thread = records.thread;
    this.vcpus = Array.from({ length: mem.count(VCPU) }, (_, i) => (i === id ? records : vcpuRecords(mem, i)));
    this.kvm = mem.record(KVM, 0);
    this.host = mem.record(HOST, 0);
    this.tracer = o.tracer ?? NO_TRACE;
    this.sched = o.sched ?? new Scheduler(mem, this.tracer);
    this.guest = o.guest;
    this.mem = guestMemory(mem);
    this.observer = o.observer ?? NO_OBSERVER;
    this.ioBus = o.ioBus ?? null;
    this.caps = readVmExitConfig(this.kvm);
    this.apicv = this.kvm.load('apicv') !== 0;
    this.exitCostNs = this.kvm.get('exit_cost_ns');
    const v = this.block;
    const ple = o.ple ?? PLE_DEFAULTS;
    v.set('timer_advance_ns', 0); // x86's LAPIC only (x86.ts)
    v.set('expired_tscdeadline', 0);
    v.set('ple_window', ple.ple_window); // vmx_vcpu_create(): vmx->ple_window = ple_window (arm64 has no PLE: it stays there)
    v.store('apicv', this.apicv ? 1 : 0);
    v.store('pi_on', 0);
    v.store('poll_control', 1); // MSR_KVM_POLL_CONTROL's reset value
    v.store('monitor_line', -1);
    resetRunStates(this.thread, RUN_STATE.STARTING, now());
    // kvm_arch_vcpu_create(): the architecture's half, for the VM's architecture.
    this.arch = ARCHES[archOf(this.kvm)](this, ple) as A;
    this.guestHost = new VcpuGuestHost(this);
    // The preempt notifier (kvm_preempt_ops): the scheduler tells this vCPU when its thread gains or loses a pCPU.
    this.sched.setSchedHooks(this.task, { in: (cpu) => kvmSchedIn(this, cpu), out: (preempted) => kvmSchedOut(this, preempted) });
  }

  /** ktime_get(): the host's clock, read through the vCPU so that the halt path can run on a fake one. */
  clock(): number {
    return now();
  }

  /** kvm_arch_vcpu_runnable()'s interrupt half: an interrupt is pending that wakes this vCPU (x86: one it can take now). */
  hasEvents(): boolean {
    return (!this.arch.wakeNeedsUnmasked || this.guest.interruptsEnabled) && Atomics.load(this.block.i32, this.block.I.irr) !== 0;
  }

  /**
   * kvm_vcpu_check_block() < 0: runnable (an event it can take), a pending LAPIC timer even with
   * interrupts masked (kvm_cpu_has_pending_timer: vcpu_run then injects it into the IRR and the
   * vCPU halts again), or a pending signal. A due timer lands on this polling pCPU first.
   */
  checkBlock(at: number): boolean {
    const v = this.block;
    if (timerDueOnVcpu(v, at)) this.fireOwnTimer(at);
    return this.hasEvents() || Atomics.load(v.i32, v.I.timer_pending) !== 0 || Atomics.load(v.i32, v.I.signal_pending) !== 0;
  }

  /** kvm_arch_no_poll(): the guest turned host halt polling off (MSR_KVM_POLL_CONTROL = 0). */
  noPoll(): boolean {
    return this.block.load('poll_control') === 0;
  }

  /** The deadline timer expires on this vCPU's own pCPU (preemption timer, or the hrtimer while it polls). */
  fireOwnTimer(at: number): void {
    const deadline = this.block.get('tsc_deadline');
    if (fireTimerOnVcpu(this, at)) this.tracer.emit(at, EV.TIMER, this.id, at - deadline);
  }

  /** Its hrtimer fired while it slept (kvmVcpuBlock ran the callback on this thread). */
  hrtimerFired(at: number, lateNs: number): void {
    this.hrtimerLateness.record(lateNs);
    this.tracer.emit(at, EV.TIMER, this.id, lateNs);
  }

  /** Publish the run state, and add the time spent in the previous one to its thread's record. */
  setRunState(state: number, at: number): void {
    enterRunState(this.thread, state, at);
    this.tracer.emit(at, EV.STATE, state);
  }
}
