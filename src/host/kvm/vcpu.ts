import { now } from '../../actors/clock.ts';
import type { Record32x64 } from '../../actors/shared-memory.ts';
import { GUEST_EXIT, GuestCpu, type GuestExit, type GuestHost } from '../../guest/interpreter.ts';
import { MSR_IA32_TSC_DEADLINE, MSR_KVM_POLL_CONTROL, type SampleChannel } from '../../guest/isa.ts';
import type { Scheduler } from '../sched/scheduler.ts';
import { HaltPath } from './halt.ts';
import type { VcpuShared } from './kick.ts';
import { fireTimerOnVcpu, timerDueOnVcpu, writeTscDeadline } from './lapic-timer.ts';
import { statIndex, type ExitReason } from './stats.ts';
import { irqfdResampleLines, type KvmVmRecord } from './vm-state.ts';
import { irqfdResampleNotify } from './irqfd.ts';
import { EV, NO_TRACE, type Tracer } from '../../trace/tracer.ts';
import { IRQ_LINES, LINE, LINE_VECTOR, MODE, MP_STATE, RUN_STATE, V, VF } from './vcpu-state.ts';
import { enterRunState, resetRunStates } from '../thread-state.ts';
import { growPleWindow, kvmPauseInGuest, PLE_DEFAULTS, PauseLoopDetector, shrinkPleWindow, type PleParams } from './ple.ts';
import { kvmVcpuOnSpin, type OnSpinVm } from './directed-yield.ts';
import { lastBoostedVcpu, setLastBoostedVcpu } from './vm-state.ts';

/**
 * The kernel half of a vCPU thread: KVM_RUN (kvm_arch_vcpu_ioctl_run ->
 * vcpu_run, arch/x86/kvm/x86.c). It alternates entering the guest and blocking
 * while halted, handles exits in "the kernel", and returns to the VMM only for
 * what KVM returns for: a pending signal (KVM_EXIT_INTR), or a guest that ends.
 */

export const KVM_EXIT = { HLT: 5, INTR: 10, SHUTDOWN: 8 } as const;
export type KvmExit = (typeof KVM_EXIT)[keyof typeof KVM_EXIT];

/**
 * kvm_io_bus_write() for port I/O: true when an in-kernel device took the
 * write (an ioeventfd), so the guest goes on without an exit to userspace.
 */
export type KvmIoBus = (port: number, value: number) => boolean;

export interface VcpuObserver {
  /** An interrupt on `line`, pending since `pendingSince`, was injected, and guest code runs again at `at`. */
  injected(line: number, pendingSince: number, at: number): void;
  sample(channel: SampleChannel, value: number): void;
}

const STAT = {
  exits: statIndex('exits'),
  halt_exits: statIndex('halt_exits'),
  irq_exits: statIndex('irq_exits'),
  signal_exits: statIndex('signal_exits'),
  irq_injections: statIndex('irq_injections'),
  io_exits: statIndex('io_exits'),
  timer_injections: statIndex('timer_interrupts_injected'),
  device_injections: statIndex('device_interrupts_injected'),
  blocking: statIndex('blocking'),
  yield_attempted: statIndex('on_spin_yield_attempted'),
  yield_successful: statIndex('on_spin_yield_successful'),
  yield_failed: statIndex('on_spin_yield_failed'),
};
const EXIT_STAT: Record<GuestExit, number | undefined> = {
  [GUEST_EXIT.HLT]: statIndex('exit_HLT' satisfies `exit_${ExitReason}`),
  [GUEST_EXIT.MSR_WRITE]: statIndex('exit_MSR_WRITE'),
  [GUEST_EXIT.EXTERNAL_INTERRUPT]: statIndex('exit_EXTERNAL_INTERRUPT'),
  [GUEST_EXIT.PREEMPTION_TIMER]: statIndex('exit_PREEMPTION_TIMER'),
  [GUEST_EXIT.INTERRUPT_WINDOW]: statIndex('exit_INTERRUPT_WINDOW'),
  [GUEST_EXIT.IO_INSTRUCTION]: statIndex('exit_IO_INSTRUCTION'),
  [GUEST_EXIT.PAUSE_INSTRUCTION]: statIndex('exit_PAUSE_INSTRUCTION'),
  [GUEST_EXIT.SHUTDOWN]: undefined,
};

/** What PAUSE-loop exiting and directed yield need beyond the vCPU itself. */
export interface VcpuSpinConfig {
  /** kvm_intel's ple_* parameters (read once: they are 0444). */
  ple: PleParams;
  /** Every vCPU of the VM, by index (= its task id): kvm_vcpu_on_spin()'s candidates. */
  vcpus: readonly VcpuShared[];
}

export class KvmVcpu implements GuestHost {
  readonly guest: GuestCpu;
  private readonly haltPath: HaltPath;
  private readonly v: Record32x64;
  private readonly s: Record32x64;
  /** The line injected and not yet seen by running guest code (-1: none), and when it became pending. */
  private injectedLine = -1;
  private injectedSince = 0;
  /** Lines injected and not yet EOI'd, innermost last (the LAPIC's ISR, as a stack). */
  private readonly inService: number[] = [];
  /** The VM's in-kernel port I/O devices (ioeventfds); none unless the VMM registered some. */
  ioBus: KvmIoBus | null = null;
  private readonly ple: PleParams;
  /** kvm->arch.pause_in_guest: no PAUSE-loop exiting for this VM. */
  private readonly pauseInGuest: boolean;
  private readonly pauseLoop = new PauseLoopDetector();
  /** The scheduler's sched-in count when this vCPU was last loaded: a change means it was scheduled out. */
  private loadedAt = 0;
  private readonly onSpinVm: OnSpinVm;

  constructor(
    readonly shared: VcpuShared,
    private readonly task: number,
    private readonly sched: Scheduler,
    host: Record32x64,
    private readonly kvm: KvmVmRecord,
    guest: GuestCpu,
    private readonly observer: VcpuObserver,
    private readonly tracer: Tracer = NO_TRACE,
    spin: VcpuSpinConfig = { ple: PLE_DEFAULTS, vcpus: [shared] },
  ) {
    this.v = shared.v;
    this.s = shared.s;
    this.guest = guest;
    this.ple = spin.ple;
    this.pauseInGuest = kvmPauseInGuest(spin.ple);
    this.v.f64[VF.ple_window] = spin.ple.ple_window; // vmx_vcpu_create(): vmx->ple_window = ple_window
    this.onSpinVm = this.spinView(spin.vcpus);
    Atomics.store(this.v.i32, V.poll_control, 1); // the MSR's reset value
    resetRunStates(shared.t, RUN_STATE.STARTING, now());
    this.haltPath = new HaltPath({
      vcpu: shared,
      task,
      sched,
      host,
      kvm,
      tracer,
      checkBlock: (at) => this.checkBlock(at),
      noPoll: () => Atomics.load(this.v.i32, V.poll_control) === 0, // kvm_arch_no_poll()
      setRunState: (state, at) => this.setRunState(state, at),
    });
  }

  /** KVM_RUN. The caller (the VMM's vCPU loop) holds a pCPU for this thread. */
  run(): KvmExit {
    const v = this.v;
    // immediate_exit is polled once when KVM_RUN starts (api.rst).
    if (Atomics.load(v.i32, V.immediate_exit)) return this.exitIntr();
    for (;;) {
      let r: KvmExit | 0;
      if (Atomics.load(v.i32, V.mp_state) === MP_STATE.RUNNABLE) r = this.enterGuest();
      else r = this.vcpuBlock();
      if (r !== 0) return r;
      if (Atomics.load(v.i32, V.signal_pending)) return this.exitIntr();
      if (this.sched.needResched(this.task)) {
        this.setRunState(RUN_STATE.RUNNABLE, now());
        this.sched.yield(this.task); // cond_resched(): preempted at the tick
      }
    }
  }

  // --- GuestHost: what guest execution asks of its vCPU, at every instruction boundary ---
  kicked(): boolean {
    return Atomics.load(this.v.i32, V.mode) !== MODE.IN_GUEST_MODE;
  }
  timerDue(at: number): boolean {
    return timerDueOnVcpu(this.v, at);
  }
  interruptWindowRequested(): boolean {
    return Atomics.load(this.v.i32, V.irr) !== 0;
  }
  sample(channel: SampleChannel, value: number): void {
    this.observer.sample(channel, value);
  }
  pauseLoopExit(cycles: number, at: number): boolean {
    return !this.pauseInGuest && this.pauseLoop.pause(cycles, at, this.ple.ple_gap, this.v.f64[VF.ple_window]);
  }
  /** The guest EOIs the innermost interrupt in service; a resampled line tells the VMM's device. */
  eoi(): void {
    const line = this.inService.pop();
    if (line !== undefined && (irqfdResampleLines(this.kvm) & (1 << line)) !== 0) irqfdResampleNotify(this.shared);
  }

  /** vcpu_enter_guest(): inject, enter, run guest code until an exit, handle it. 0 = stay in the kernel. */
  private enterGuest(): KvmExit | 0 {
    const v = this.v;
    this.vcpuLoad();
    let at = now();
    if (timerDueOnVcpu(v, at)) this.fireOwnTimer(at);
    this.injectPending();
    Atomics.store(v.i32, V.mode, MODE.IN_GUEST_MODE);
    // A kick or signal that raced with entry: cancel it (vcpu->mode re-check after entering guest mode).
    if (Atomics.load(v.i32, V.signal_pending) || this.sched.needResched(this.task)) {
      Atomics.store(v.i32, V.mode, MODE.OUTSIDE_GUEST_MODE);
      return 0;
    }
    // The guest runs from here: an injected interrupt's wake-latency sample ends now.
    at = now();
    this.setRunState(RUN_STATE.GUEST, at);
    if (this.injectedLine >= 0) {
      this.tracer.emit(at, EV.INJECT, this.injectedLine, this.injectedSince);
      this.observer.injected(this.injectedLine, this.injectedSince, at);
      this.injectedLine = -1;
    }
    this.pauseLoop.enter();
    const exit = this.guest.run(this);
    Atomics.store(v.i32, V.mode, MODE.OUTSIDE_GUEST_MODE);
    at = now();
    this.setRunState(RUN_STATE.HOST, at);
    if (exit === GUEST_EXIT.SHUTDOWN) return KVM_EXIT.SHUTDOWN;
    this.tracer.emit(at, EV.EXIT, exit);
    Atomics.add(this.s.i32, STAT.exits, 1);
    Atomics.add(this.s.i32, EXIT_STAT[exit]!, 1);
    switch (exit) {
      case GUEST_EXIT.HLT:
        return this.emulateHalt();
      case GUEST_EXIT.MSR_WRITE:
        if (this.guest.exitMsr === MSR_IA32_TSC_DEADLINE) writeTscDeadline(this.shared, this.guest.exitValue, at);
        else if (this.guest.exitMsr === MSR_KVM_POLL_CONTROL) Atomics.store(this.v.i32, V.poll_control, this.guest.exitValue & 1);
        return 0;
      case GUEST_EXIT.PREEMPTION_TIMER:
        this.fireOwnTimer(at);
        return 0;
      case GUEST_EXIT.EXTERNAL_INTERRUPT:
        Atomics.add(this.s.i32, STAT.irq_exits, 1);
        return 0;
      case GUEST_EXIT.PAUSE_INSTRUCTION:
        this.handlePause();
        return 0;
      case GUEST_EXIT.IO_INSTRUCTION: {
        Atomics.add(this.s.i32, STAT.io_exits, 1);
        const { exitPort, exitValue } = this.guest;
        // Without an ioeventfd this would be KVM_EXIT_IO to the VMM, which no modelled device needs.
        if (!this.ioBus?.(exitPort, exitValue)) throw new Error(`vcpu${this.shared.id}: OUT to port 0x${exitPort.toString(16)}, which no device claims`);
        return 0;
      }
    }
    return 0;
  }

  /**
   * vmx_vcpu_load(): a vCPU loaded again after it was scheduled out (blocked,
   * preempted or yielded: vcpu->scheduled_out) shrinks its PLE window
   * (6.11+; sched_in before). Checked before each entry, which is when the
   * window is next used.
   */
  private vcpuLoad(): void {
    const n = this.sched.schedIns(this.task);
    if (n === this.loadedAt) return;
    const wasOut = this.loadedAt !== 0;
    this.loadedAt = n;
    if (wasOut && !this.pauseInGuest) this.v.f64[VF.ple_window] = shrinkPleWindow(this.v.f64[VF.ple_window], this.ple);
  }

  /** handle_pause(): grow the window, kvm_vcpu_on_spin(vcpu, true); the PAUSE is already skipped. */
  private handlePause(): void {
    if (!this.pauseInGuest) this.v.f64[VF.ple_window] = growPleWindow(this.v.f64[VF.ple_window], this.ple);
    const r = kvmVcpuOnSpin(this.onSpinVm, this.shared.id, true);
    if (r.tried.length) Atomics.add(this.s.i32, STAT.yield_attempted, r.tried.length);
    if (r.boosted >= 0) {
      Atomics.add(this.s.i32, STAT.yield_successful, 1);
      this.setRunState(RUN_STATE.HOST, now()); // back on a pCPU after the yield
    }
    if (r.failed) Atomics.add(this.s.i32, STAT.yield_failed, r.failed);
  }

  /** kvm_vcpu_on_spin()'s view of the VM: the other vCPUs' shared words and their tasks in the host scheduler. */
  private spinView(vcpus: readonly VcpuShared[]): OnSpinVm {
    const { sched, kvm } = this;
    const me = this.task;
    const flag = (idx: number, f: number) => Atomics.load(vcpus[idx].v.i32, f) !== 0;
    const set = (idx: number, f: number, b: boolean) => Atomics.store(vcpus[idx].v.i32, f, b ? 1 : 0);
    return {
      nrVcpus: vcpus.length,
      getLastBoosted: () => lastBoostedVcpu(kvm),
      setLastBoosted: (idx) => setLastBoostedVcpu(kvm, idx),
      ready: (idx) => sched.isQueued(idx), // runnable without a pCPU: preempted, or woken and waiting
      isBlocking: (idx) => Atomics.load(vcpus[idx].s.i32, STAT.blocking) !== 0,
      dyRunnable: (idx) => Atomics.load(vcpus[idx].v.i32, V.irr) !== 0, // KVM_REQ_EVENT: an interrupt is pending
      preempted: (idx) => sched.wasPreempted(idx),
      dyHasPendingInterrupt: () => false, // no APICv: no posted interrupts in the model
      preemptedInKernel: () => true, // the guest is all kernel code: CPL 0
      inSpinLoop: (idx) => flag(idx, V.in_spin_loop),
      dyEligible: (idx) => flag(idx, V.dy_eligible),
      setInSpinLoop: (idx, b) => set(idx, V.in_spin_loop, b),
      setDyEligible: (idx, b) => set(idx, V.dy_eligible, b),
      yieldTo: (idx) => sched.yieldTo(me, idx, () => this.setRunState(RUN_STATE.RUNNABLE, now())),
    };
  }

  /** __kvm_emulate_halt with the in-kernel LAPIC: halt unless an event is already there. */
  private emulateHalt(): 0 {
    Atomics.add(this.s.i32, STAT.halt_exits, 1);
    if (!this.hasEvents()) Atomics.store(this.v.i32, V.mp_state, MP_STATE.HALTED);
    return 0;
  }

  /** vcpu_block() for a halted vCPU: kvm_vcpu_halt(), then HALTED -> RUNNABLE if an event woke it. */
  private vcpuBlock(): 0 {
    this.haltPath.halt();
    // A signal leaves mp_state HALTED (KVM_EXIT_INTR with the vCPU still halted); an interrupt unhalts it.
    if (this.hasEvents()) Atomics.store(this.v.i32, V.mp_state, MP_STATE.RUNNABLE);
    this.setRunState(RUN_STATE.HOST, now());
    return 0;
  }

  /** kvm_vcpu_has_events(): an injectable interrupt is pending. */
  private hasEvents(): boolean {
    return this.guest.interruptsEnabled && Atomics.load(this.v.i32, V.irr) !== 0;
  }

  /** kvm_vcpu_check_block(): runnable, a pending timer, or a pending signal. */
  private checkBlock(at: number): boolean {
    if (timerDueOnVcpu(this.v, at)) this.fireOwnTimer(at); // the hrtimer lands on this (polling) pCPU
    return this.hasEvents() || Atomics.load(this.v.i32, V.signal_pending) !== 0;
  }

  /**
   * Inject the lowest pending line if the guest accepts interrupts. Its
   * wake-latency sample ends when guest code next runs (an entry cancelled by a
   * racing signal keeps it for the next one; with IF now clear, no second
   * injection can come first).
   */
  private injectPending(): void {
    if (!this.guest.interruptsEnabled) return;
    const irr = Atomics.load(this.v.i32, V.irr);
    if (irr === 0) return;
    const line = 31 - Math.clz32(irr & -irr);
    if (line >= IRQ_LINES) throw new Error(`vcpu${this.shared.id}: pending line ${line} does not exist`);
    Atomics.and(this.v.i32, V.irr, ~(1 << line));
    Atomics.add(this.s.i32, STAT.irq_injections, 1);
    Atomics.add(this.s.i32, line === LINE.LAPIC_TIMER ? STAT.timer_injections : STAT.device_injections, 1);
    this.injectedLine = line;
    this.injectedSince = this.v.f64[VF.pending_since + line];
    this.inService.push(line);
    this.guest.inject(LINE_VECTOR[line]);
  }

  private fireOwnTimer(at: number): void {
    const deadline = this.v.f64[VF.tsc_deadline];
    if (fireTimerOnVcpu(this.shared, at)) this.tracer.emit(at, EV.TIMER, this.shared.id, at - deadline);
  }

  private exitIntr(): KvmExit {
    Atomics.store(this.v.i32, V.immediate_exit, 0);
    Atomics.add(this.s.i32, STAT.signal_exits, 1);
    return KVM_EXIT.INTR;
  }

  /** Publish the run state, and add the time spent in the previous one to its thread's record. */
  setRunState(state: number, at: number): void {
    enterRunState(this.shared.t, state, at);
    this.tracer.emit(at, EV.STATE, state);
  }
}
