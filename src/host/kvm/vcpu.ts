import { now } from '../../actors/clock.ts';
import type { Record32x64 } from '../../actors/shared-memory.ts';
import { GUEST_EXIT, GuestCpu, type GuestExit, type GuestHost } from '../../guest/interpreter.ts';
import { MSR_IA32_TSC_DEADLINE, MSR_KVM_LAZY_TSCDEADLINE, MSR_KVM_POLL_CONTROL, type SampleChannel } from '../../guest/isa.ts';
import type { Scheduler } from '../sched/scheduler.ts';
import { HaltPath } from './halt.ts';
import type { VcpuShared } from './kick.ts';
import { fireTimerOnVcpu, timerDueOnVcpu, timerExpiry, writeTscDeadline } from './lapic-timer.ts';
import { adjustLapicTimerAdvance, LAPIC_TIMER_ADVANCE_NS_INIT } from './timer-advance.ts';
import { statIndex, type ExitReason } from './stats.ts';
import { exitOnWfx, hostApicv, hostExitCostNs, lapicTimerAdvance, irqfdResampleLines, isArm64, lazyTscdeadlineAdvertised, readWfxConfig, type KvmVmRecord } from './vm-state.ts';
import { wfxTraps } from './wfx-trap.ts';
import { T } from '../sched/task-state.ts';
import { kvmLazyTscdeadlineSetMsr } from './lazy-tscdeadline.ts';
import { irqfdResampleNotify } from './irqfd.ts';
import { EV, NO_TRACE, type Tracer } from '../../trace/tracer.ts';
import { IDLE_WAIT, IRQ_LINES, LINE, LINE_VECTOR, MODE, MP_STATE, RUN_STATE, TIMER, V, VF } from './vcpu-state.ts';
import { enterRunState, resetRunStates } from '../thread-state.ts';
import { growPleWindow, kvmPauseInGuest, PLE_DEFAULTS, PauseLoopDetector, shrinkPleWindow, type PleParams } from './ple.ts';
import { kvmVcpuOnSpin, type OnSpinVm } from './directed-yield.ts';
import { lastBoostedVcpu, setLastBoostedVcpu } from './vm-state.ts';
import { KVM_X86_USERSPACE_EXIT, readVmExitConfig, type VmExitConfig } from './caps.ts';
import type { GuestMemory } from '../guest-memory.ts';
import { futexWait } from '../../actors/futex.ts';

/**
 * The kernel half of a vCPU thread: KVM_RUN (kvm_arch_vcpu_ioctl_run ->
 * vcpu_run, arch/x86/kvm/x86.c). It alternates entering the guest and blocking
 * while halted, handles exits in "the kernel", and returns to the VMM only for
 * what KVM returns for: a pending signal (KVM_EXIT_INTR), a HLT without an
 * in-kernel LAPIC (KVM_EXIT_HLT), a guest that ends, and, with the 2023
 * proposal, the HLT/MWAIT exits the VMM asked for.
 */

/** KVM_EXIT_MWAIT is the 2023 RFC's proposed code (never merged). */
// KVM_EXIT_WFX is the 2023 arm64 request's exit; it had no number upstream, haltlab picks 39.
export const KVM_EXIT = { HLT: 5, INTR: 10, SHUTDOWN: 8, MWAIT: 38, WFX: 39 } as const;
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
  wfi_exit_stat: statIndex('wfi_exit_stat'),
  wfe_exit_stat: statIndex('wfe_exit_stat'),
  vcpu_loads: statIndex('vcpu_loads'),
  vcpu_loads_twi: statIndex('vcpu_loads_twi'),
  vcpu_loads_twe: statIndex('vcpu_loads_twe'),
  wfi_native: statIndex('wfi_native'),
  wfe_native: statIndex('wfe_native'),
  timer_injections: statIndex('timer_interrupts_injected'),
  device_injections: statIndex('device_interrupts_injected'),
  posted: statIndex('posted_interrupts'),
  hlt_in_guest: statIndex('hlt_in_guest'),
  mwait_in_guest: statIndex('mwait_in_guest'),
  mwait_yields: statIndex('mwait_yields'),
  blocking: statIndex('blocking'),
  yield_attempted: statIndex('on_spin_yield_attempted'),
  yield_successful: statIndex('on_spin_yield_successful'),
  yield_failed: statIndex('on_spin_yield_failed'),
};
const exitStat = (r: ExitReason): number => statIndex(`exit_${r}`);
/** Each guest exit under its x86 (VMX) reason; undefined: no such exit on x86. */
const X86_EXIT_STAT: Record<GuestExit, number | undefined> = {
  [GUEST_EXIT.HLT]: exitStat('HLT'),
  [GUEST_EXIT.MSR_WRITE]: exitStat('MSR_WRITE'),
  [GUEST_EXIT.EXTERNAL_INTERRUPT]: exitStat('EXTERNAL_INTERRUPT'),
  [GUEST_EXIT.PREEMPTION_TIMER]: exitStat('PREEMPTION_TIMER'),
  [GUEST_EXIT.INTERRUPT_WINDOW]: exitStat('INTERRUPT_WINDOW'),
  [GUEST_EXIT.IO_INSTRUCTION]: exitStat('IO_INSTRUCTION'),
  [GUEST_EXIT.MWAIT_INSTRUCTION]: exitStat('MWAIT_INSTRUCTION'),
  [GUEST_EXIT.MONITOR_INSTRUCTION]: exitStat('MONITOR_INSTRUCTION'),
  [GUEST_EXIT.PAUSE_INSTRUCTION]: exitStat('PAUSE_INSTRUCTION'),
  [GUEST_EXIT.WFI]: undefined,
  [GUEST_EXIT.WFE]: undefined,
  [GUEST_EXIT.SHUTDOWN]: undefined,
};
/**
 * The same exits as arm64's kvm_exit trace names them: a trap by its exception
 * class, an exit for a physical interrupt (a kick's IPI, the vtimer) as IRQ.
 * The deadline-register write stands for a trapped timer system register
 * (SYS64), the port write for an MMIO doorbell (a data abort, DABT_LOW).
 * arm64 has no interrupt window; the model's own is kept under its x86 name.
 * MONITOR/MWAIT do not exist there.
 */
const ARM64_EXIT_STAT: Record<GuestExit, number | undefined> = {
  [GUEST_EXIT.HLT]: undefined,
  [GUEST_EXIT.MSR_WRITE]: exitStat('ESR_ELx_EC_SYS64'),
  [GUEST_EXIT.EXTERNAL_INTERRUPT]: exitStat('IRQ'),
  [GUEST_EXIT.PREEMPTION_TIMER]: exitStat('IRQ'),
  [GUEST_EXIT.INTERRUPT_WINDOW]: exitStat('INTERRUPT_WINDOW'),
  [GUEST_EXIT.IO_INSTRUCTION]: exitStat('ESR_ELx_EC_DABT_LOW'),
  [GUEST_EXIT.MWAIT_INSTRUCTION]: undefined,
  [GUEST_EXIT.MONITOR_INSTRUCTION]: undefined,
  [GUEST_EXIT.PAUSE_INSTRUCTION]: undefined, // PLE is VMX's; arm64's spin-wait is WFE
  [GUEST_EXIT.WFI]: exitStat('ESR_ELx_EC_WFx'),
  [GUEST_EXIT.WFE]: exitStat('ESR_ELx_EC_WFx'),
  [GUEST_EXIT.SHUTDOWN]: undefined,
};

/**
 * How long an untrapped WFE can wait with no event: Linux arm64 turns on the
 * generic timer's event stream, one event every ARCH_TIMER_EVT_STREAM_PERIOD_US
 * = 100 µs (include/clocksource/arm_arch_timer.h), so a WFE never sleeps longer.
 */
export const WFE_EVENT_STREAM_NS = 100_000;

const IDLE_WAIT_OF = { hlt: IDLE_WAIT.HLT_IN_GUEST, mwait: IDLE_WAIT.MWAIT_IN_GUEST, wfi: IDLE_WAIT.WFI_IN_GUEST, wfe: IDLE_WAIT.WFE_IN_GUEST } as const;

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
  /** The host's VM exit + entry cost, paid as busy time; posted interrupts on. */
  private readonly exitCostNs: number;
  private readonly apicv: boolean;
  /** PROPOSAL: KVM_CAP_EXIT_ON_WFX (arm64, 2023). */
  private readonly exitOnWfx: boolean;
  /** The VM's irqchip and exit capabilities, fixed before this vCPU was created. */
  private readonly caps: VmExitConfig;
  readonly hltInGuest: boolean;
  readonly mwaitInGuest: boolean;
  /**
   * The LAPIC timer can use the VMX preemption timer (an exit of its own);
   * kvm_can_use_hv_timer() is false with mwait_in_guest, and the host hrtimer
   * then interrupts the guest (an external-interrupt exit). Reference §2.2.
   */
  private readonly hvTimer: boolean;
  readonly arm64: boolean;
  private readonly exitStats: Record<GuestExit, number | undefined>;
  /** arm64: the vCPUs use GICv4 direct injection, so an interrupt reaches a vCPU in an untrapped WFI without an exit. */
  private readonly directInjection: boolean;
  /** HCR_EL2.TWI / TWE as the last vcpu_load set them (arm64). */
  private twi = true;
  private twe = true;

  constructor(
    readonly shared: VcpuShared,
    private readonly task: number,
    private readonly sched: Scheduler,
    host: Record32x64,
    private readonly kvm: KvmVmRecord,
    guest: GuestCpu,
    private readonly mem: GuestMemory,
    private readonly observer: VcpuObserver,
    private readonly tracer: Tracer = NO_TRACE,
    spin: VcpuSpinConfig = { ple: PLE_DEFAULTS, vcpus: [shared] },
  ) {
    this.v = shared.v;
    this.s = shared.s;
    this.guest = guest;
    this.caps = readVmExitConfig(kvm);
    this.hltInGuest = this.caps.hltInGuest;
    this.mwaitInGuest = this.caps.mwaitInGuest;
    this.hvTimer = !this.caps.mwaitInGuest;
    this.exitCostNs = hostExitCostNs(kvm);
    // kvm.lapic_timer_advance (default on): each vCPU starts at LAPIC_TIMER_ADVANCE_NS_INIT and adapts.
    this.v.f64[VF.timer_advance_ns] = lapicTimerAdvance(kvm) && !isArm64(kvm) ? LAPIC_TIMER_ADVANCE_NS_INIT : 0; // x86's LAPIC only
    this.v.f64[VF.expired_tscdeadline] = 0;
    this.exitOnWfx = exitOnWfx(kvm);
    this.apicv = hostApicv(kvm);
    Atomics.store(this.v.i32, V.apicv, this.apicv ? 1 : 0);
    Atomics.store(this.v.i32, V.pi_on, 0);
    this.arm64 = isArm64(kvm);
    this.exitStats = this.arm64 ? ARM64_EXIT_STAT : X86_EXIT_STAT;
    this.directInjection = this.arm64 && readWfxConfig(kvm).direct_injection;
    this.ple = spin.ple;
    // kvm->arch.pause_in_guest: ple_gap=0, or KVM_X86_DISABLE_EXITS_PAUSE enabled on the VM.
    this.pauseInGuest = this.arm64 || kvmPauseInGuest(spin.ple, this.caps.pauseInGuest); // arm64: no PLE (cpu_relax is YIELD, not trapped)
    this.v.f64[VF.ple_window] = spin.ple.ple_window; // vmx_vcpu_create(): vmx->ple_window = ple_window
    this.onSpinVm = this.spinView(spin.vcpus);
    Atomics.store(this.v.i32, V.poll_control, 1); // the MSR's reset value
    Atomics.store(this.v.i32, V.monitor_line, -1);
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
      scheduledIn: () => this.vcpuLoad(),
    });
  }

  /**
   * kvm_arch_vcpu_load: the thread (re)acquired a pCPU. On arm64 this is where
   * the WFx traps are decided for as long as it stays there (reference §3.2),
   * from that pCPU's runqueue depth now.
   */
  vcpuLoad(): void {
    Atomics.add(this.s.i32, STAT.vcpu_loads, 1);
    this.shrinkPleWindowIfScheduledOut();
    if (!this.arm64) return;
    const cpu = Atomics.load(this.sched.tasks[this.task].i32, T.pcpu);
    const traps = wfxTraps({ ...readWfxConfig(this.kvm), nr_running: cpu < 0 ? 1 : this.sched.nrRunning(cpu) });
    // The proposal forces WFx traps while its cap is enabled, so that a WFI can exit at all.
    this.twi = traps.twi || this.exitOnWfx;
    this.twe = traps.twe || this.exitOnWfx;
    if (traps.twi) Atomics.add(this.s.i32, STAT.vcpu_loads_twi, 1);
    if (traps.twe) Atomics.add(this.s.i32, STAT.vcpu_loads_twe, 1);
  }

  /**
   * vmx_vcpu_load(): a vCPU loaded again after it was scheduled out (blocked,
   * preempted or yielded: vcpu->scheduled_out) shrinks its PLE window
   * (6.11+; sched_in before). A load with no sched-in since the last one
   * (a new KVM_RUN on the same pCPU) changes nothing.
   */
  private shrinkPleWindowIfScheduledOut(): void {
    const n = this.sched.schedIns(this.task);
    if (n === this.loadedAt) return;
    const wasOut = this.loadedAt !== 0;
    this.loadedAt = n;
    if (wasOut && !this.pauseInGuest) this.v.f64[VF.ple_window] = shrinkPleWindow(this.v.f64[VF.ple_window], this.ple);
  }

  /** KVM_RUN. The caller (the VMM's vCPU loop) holds a pCPU for this thread. */
  run(): KvmExit {
    const v = this.v;
    // immediate_exit is polled once when KVM_RUN starts (api.rst).
    if (Atomics.load(v.i32, V.immediate_exit)) return this.exitIntr();
    this.vcpuLoad(); // the ioctl's vcpu_load(): the caller has just (re)acquired its pCPU
    for (;;) {
      let r: KvmExit | 0;
      if (Atomics.load(v.i32, V.mp_state) === MP_STATE.RUNNABLE) r = this.enterGuest();
      else r = this.vcpuBlock();
      if (r !== 0) return r;
      if (Atomics.load(v.i32, V.signal_pending)) return this.exitIntr();
      if (this.sched.needResched(this.task)) {
        this.setRunState(RUN_STATE.RUNNABLE, now());
        this.sched.yield(this.task); // cond_resched(): preempted at the tick
        this.vcpuLoad();
      }
    }
  }

  // --- GuestHost: what guest execution asks of its vCPU, at every instruction boundary ---
  kicked(): boolean {
    // A posted-interrupt notification also stops the guest's instruction stream, but only for
    // enterGuest to deliver it in guest mode (no exit is counted): see deliverPosted.
    return Atomics.load(this.v.i32, V.mode) !== MODE.IN_GUEST_MODE || (this.apicv && this.guest.interruptsEnabled && Atomics.load(this.v.i32, V.pi_on) !== 0);
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
  monitor(addr: number): void {
    this.mem.monitor(this.v, addr);
  }
  store(addr: number, value: number): void {
    this.mem.store(addr, value);
  }
  cpuId(): number {
    return this.shared.id;
  }
  wfxTrapped(wfe: boolean): boolean {
    if (!this.arm64) throw new Error(`vcpu${this.shared.id}: ${wfe ? 'WFE' : 'WFI'} on an x86 host (host.arch is x86)`);
    return wfe ? this.twe : this.twi;
  }
  load(addr: number): number {
    return this.mem.load(addr);
  }
  cmpxchg(addr: number, expected: number, value: number): number {
    return this.mem.cmpxchg(addr, expected, value);
  }
  xadd(addr: number, delta: number): number {
    return this.mem.xadd(addr, delta);
  }

  /**
   * Idling in guest mode, the pCPU kept, the thread really blocked, without
   * KVM's halt path (no polling, no halt statistics): x86's native HLT or MWAIT
   * (KVM_X86_DISABLE_EXITS), or arm64's untrapped WFI/WFE (HCR_EL2.TWI/TWE
   * clear at the last vcpu_load). One wait and one wake path for all four: the
   * thread publishes idle_wait, then re-checks and waits on the kick word;
   * kvmVcpuKickForInterrupt and kvm_vcpu_kick bump it once the event is
   * published (kick.ts), so no wakeup is lost.
   *
   * It ends without an exit when an interrupt is delivered into it (posted,
   * see below), for MWAIT when the monitored line is written, for WFE when the
   * event stream ticks; with an exit on a kick's IPI or the vCPU's own timer.
   *
   * arm64 differs in two ways, both architectural. A pending interrupt is a
   * WFI/WFE wakeup event even while the guest masks interrupts (PSTATE.I), so
   * irr alone ends the wait. And delivery without an exit needs GICv4 direct
   * injection (vLPI/vSGI, the only case in which mainline leaves WFI untrapped
   * by default); without it (wfi_trap_policy=notrap, the 2024 proposal) the
   * interrupt reaches the host as a physical IRQ: the wait ends with an IRQ
   * exit and KVM injects it (list registers) at the next entry.
   */
  idleInGuest(kind: 'hlt' | 'mwait' | 'wfi' | 'wfe', entering: boolean): GuestExit | 0 {
    const v = this.v;
    const mwait = kind === 'mwait';
    const wfx = kind === 'wfi' || kind === 'wfe';
    let at = now();
    if (entering) Atomics.add(this.s.i32, STAT[`${kind}_${wfx ? 'native' : 'in_guest'}` as 'hlt_in_guest' | 'mwait_in_guest' | 'wfi_native' | 'wfe_native'], 1);
    // WFI/WFE always complete on an exit (the interpreter moves past them), so each call is one instruction.
    const bound = kind === 'wfe' ? at + WFE_EVENT_STREAM_NS : Infinity;
    this.setRunState(RUN_STATE.NATIVE_IDLE, at);
    Atomics.store(v.i32, V.idle_wait, IDLE_WAIT_OF[kind]);
    let exit: GuestExit | 0 = 0;
    for (;;) {
      const seen = Atomics.load(v.i32, V.kick);
      if (this.kicked()) {
        exit = GUEST_EXIT.EXTERNAL_INTERRUPT;
        break;
      }
      if (wfx ? Atomics.load(v.i32, V.irr) !== 0 : this.hasEvents()) {
        // arm64 without direct injection: an interrupt the guest can take came as a physical IRQ to
        // the host, an exit. A masked one only ends the wait (haltlab: no exit, it waits in irr for
        // the guest to unmask), so a guest idling masked cannot spin on IRQ exits.
        if (wfx && !this.directInjection && this.hasEvents()) exit = GUEST_EXIT.EXTERNAL_INTERRUPT;
        break;
      }
      at = now();
      if (timerDueOnVcpu(v, at)) {
        exit = GUEST_EXIT.PREEMPTION_TIMER;
        break;
      }
      if (mwait && Atomics.load(v.i32, V.monitor_armed) === 0) break; // written, or never armed: MWAIT falls through
      if (at >= bound) break; // WFE: the event stream's event
      // The pCPU's own timer bounds the wait, as the preemption timer counts in the HLT/MWAIT state.
      const timer = Atomics.load(v.i32, V.timer_mode) === TIMER.ON_VCPU ? timerExpiry(v) : Infinity;
      const until = Math.min(bound, timer);
      futexWait(v.i32, V.kick, seen, until === Infinity ? undefined : until - at);
    }
    Atomics.store(v.i32, V.idle_wait, IDLE_WAIT.NONE);
    if (exit !== 0) return exit;
    if (mwait) Atomics.store(v.i32, V.monitor_armed, 0); // MWAIT's return disarms the monitor
    // Taken after idle_wait is cleared: an interrupt whose sender saw us waiting (and so only woke
    // us, without flipping vcpu->mode) is seen here, never left pending in a running guest.
    if (this.hasEvents()) {
      if (wfx && !this.directInjection) return GUEST_EXIT.EXTERNAL_INTERRUPT; // arm64 without GICv4: an IRQ exit
      this.injectPending(true);
    }
    this.guestRuns(now());
    return 0;
  }
  /** The guest EOIs the innermost interrupt in service; a resampled line tells the VMM's device. */
  eoi(): void {
    const line = this.inService.pop();
    if (line !== undefined && (irqfdResampleLines(this.kvm) & (1 << line)) !== 0) irqfdResampleNotify(this.shared);
  }

  /** vcpu_enter_guest(): inject, enter, run guest code until an exit, handle it. 0 = stay in the kernel. */
  private enterGuest(): KvmExit | 0 {
    const v = this.v;
    let at = now();
    if (timerDueOnVcpu(v, at)) this.fireOwnTimer(at);
    this.injectPending();
    if (this.injectedLine === LINE.LAPIC_TIMER) this.waitLapicExpire();
    Atomics.store(v.i32, V.mode, MODE.IN_GUEST_MODE);
    // A kick or signal that raced with entry: cancel it (vcpu->mode re-check after entering guest mode).
    if (Atomics.load(v.i32, V.signal_pending) || this.sched.needResched(this.task)) {
      Atomics.store(v.i32, V.mode, MODE.OUTSIDE_GUEST_MODE);
      return 0;
    }
    this.pauseLoop.enter(); // a new entry: the PAUSE-loop detector starts afresh
    this.guestRuns(now());
    let exit = this.guest.run(this);
    // Posted interrupts (APICv): taken in guest mode, no exit; the guest goes on from its handler.
    while (exit === GUEST_EXIT.EXTERNAL_INTERRUPT && this.deliverPosted()) exit = this.guest.run(this);
    Atomics.store(v.i32, V.mode, MODE.OUTSIDE_GUEST_MODE);
    at = now();
    this.setRunState(RUN_STATE.HOST, at);
    if (exit === GUEST_EXIT.SHUTDOWN) return KVM_EXIT.SHUTDOWN;
    // Without the preemption timer, the deadline is the host hrtimer interrupting the guest.
    const hrtimer = exit === GUEST_EXIT.PREEMPTION_TIMER && !this.hvTimer;
    const reason = hrtimer ? GUEST_EXIT.EXTERNAL_INTERRUPT : exit;
    this.tracer.emit(at, EV.EXIT, reason);
    const stat = this.exitStats[reason];
    if (stat === undefined) throw new Error(`vcpu${this.shared.id}: guest exit ${exit} does not exist on ${this.arm64 ? 'arm64' : 'x86'}`);
    Atomics.add(this.s.i32, STAT.exits, 1);
    Atomics.add(this.s.i32, stat, 1);
    // What a VM exit and re-entry cost on real hardware, paid as real busy time (0: the model's own code only).
    if (this.exitCostNs > 0) for (const end = now() + this.exitCostNs; now() < end; );
    switch (exit) {
      case GUEST_EXIT.HLT:
        return this.emulateHalt();
      case GUEST_EXIT.WFI:
        // kvm_handle_wfx -> kvm_vcpu_wfi -> kvm_vcpu_halt(): poll, then block, in the kernel.
        Atomics.add(this.s.i32, STAT.wfi_exit_stat, 1);
        // PROPOSAL (2023): return to userspace instead, but only when the WFI would block
        // ("whenever you would otherwise yield", seeds/001); with an event there it completes.
        if (this.exitOnWfx) {
          if (this.checkBlock(at)) return 0;
          return KVM_EXIT.WFX;
        }
        this.haltPath.halt();
        this.setRunState(RUN_STATE.HOST, now());
        return 0;
      case GUEST_EXIT.WFE:
        // kvm_handle_wfx -> kvm_vcpu_on_spin(): never blocks. x86's PLE path has the directed yield
        // (handlePause), but it is not wired here yet: this is a plain yield of the pCPU to whoever waits for it.
        Atomics.add(this.s.i32, STAT.wfe_exit_stat, 1);
        this.setRunState(RUN_STATE.RUNNABLE, now());
        this.sched.yield(this.task);
        this.vcpuLoad();
        this.setRunState(RUN_STATE.HOST, now());
        return 0;
      case GUEST_EXIT.MWAIT_INSTRUCTION:
        return this.emulateMwait();
      case GUEST_EXIT.MONITOR_INSTRUCTION:
        return 0; // kvm_emulate_monitor: skipped, nothing armed
      case GUEST_EXIT.MSR_WRITE:
        this.setMsr(this.guest.exitMsr, this.guest.exitValue, at);
        return 0;
      case GUEST_EXIT.PREEMPTION_TIMER:
        if (hrtimer) Atomics.add(this.s.i32, STAT.irq_exits, 1);
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

  /** handle_pause(): grow the window, kvm_vcpu_on_spin(vcpu, true); the PAUSE is already skipped. */
  private handlePause(): void {
    if (!this.pauseInGuest) this.v.f64[VF.ple_window] = growPleWindow(this.v.f64[VF.ple_window], this.ple);
    const r = kvmVcpuOnSpin(this.onSpinVm, this.shared.id, true);
    if (r.tried.length) Atomics.add(this.s.i32, STAT.yield_attempted, r.tried.length);
    if (r.boosted >= 0) {
      Atomics.add(this.s.i32, STAT.yield_successful, 1);
      this.vcpuLoad(); // back on a pCPU after the yield: a vcpu_load
      this.setRunState(RUN_STATE.HOST, now());
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
      // kvm_arch_dy_has_pending_interrupt(): APICv active and a posted interrupt waiting (PID.ON)
      dyHasPendingInterrupt: (idx) => Atomics.load(vcpus[idx].v.i32, V.apicv) !== 0 && Atomics.load(vcpus[idx].v.i32, V.pi_on) !== 0,
      preemptedInKernel: () => true, // the guest is all kernel code: CPL 0
      inSpinLoop: (idx) => flag(idx, V.in_spin_loop),
      dyEligible: (idx) => flag(idx, V.dy_eligible),
      setInSpinLoop: (idx, b) => set(idx, V.in_spin_loop, b),
      setDyEligible: (idx, b) => set(idx, V.dy_eligible, b),
      yieldTo: (idx) => sched.yieldTo(me, idx, () => this.setRunState(RUN_STATE.RUNNABLE, now())),
    };
  }

  /** kvm_set_msr_common() for the MSRs the guest writes. */
  private setMsr(msr: number, data: number, at: number): void {
    switch (msr) {
      case MSR_IA32_TSC_DEADLINE:
        writeTscDeadline(this.shared, data, at);
        break;
      case MSR_KVM_POLL_CONTROL:
        Atomics.store(this.v.i32, V.poll_control, data & 1);
        break;
      case MSR_KVM_LAZY_TSCDEADLINE:
        // KVM would inject #GP (guest_pv_has fails); the model's guest kernel checks CPUID first.
        if (!lazyTscdeadlineAdvertised(this.kvm)) throw new Error(`vcpu${this.shared.id}: MSR_KVM_LAZY_TSCDEADLINE written but KVM_FEATURE_LAZY_TSCDEADLINE is not advertised`);
        kvmLazyTscdeadlineSetMsr(this.v, data);
        break;
    }
  }

  /**
   * A posted interrupt reached the vCPU in guest mode (the ON bit set while it
   * ran guest code, IF=1): deliver it as the processor does, with no exit, and
   * go on. False when the external-interrupt stop was a real kick instead.
   */
  private deliverPosted(): boolean {
    const v = this.v;
    if (!this.apicv || Atomics.load(v.i32, V.mode) !== MODE.IN_GUEST_MODE || Atomics.load(v.i32, V.pi_on) === 0) return false;
    Atomics.store(v.i32, V.pi_on, 0);
    this.injectPending(true);
    if (this.injectedLine === LINE.LAPIC_TIMER) this.waitLapicExpire();
    this.guestRuns(now());
    return true;
  }

  /**
   * __kvm_wait_lapic_expire(), as the deadline timer's interrupt is about to
   * enter the guest: tune timer_advance_ns by how early or late this is, then
   * busy-wait to the deadline if it is still ahead. haltlab waits all of it
   * (KVM caps the wait at timer_advance_ns), so the guest never sees it early.
   */
  private waitLapicExpire(): void {
    const v = this.v;
    const deadline = v.f64[VF.expired_tscdeadline];
    v.f64[VF.expired_tscdeadline] = 0;
    const advance = v.f64[VF.timer_advance_ns];
    if (deadline === 0 || advance === 0) return;
    const at = now();
    v.f64[VF.timer_advance_ns] = adjustLapicTimerAdvance(advance, at - deadline);
    while (now() < deadline) {
      // __delay(): the interrupt is held until the deadline
    }
  }

  /** The guest runs from here: an injected interrupt's wake-latency sample ends now. */
  private guestRuns(at: number): void {
    this.setRunState(RUN_STATE.GUEST, at);
    if (this.injectedLine >= 0) {
      this.tracer.emit(at, EV.INJECT, this.injectedLine, this.injectedSince);
      this.observer.injected(this.injectedLine, this.injectedSince, at);
      this.injectedLine = -1;
    }
  }

  /**
   * __kvm_emulate_halt. Without an in-kernel LAPIC: KVM_EXIT_HLT, the VMM owns
   * the wakeup. With one: halt unless an event is already there; the 2023
   * proposal's HLT bit then returns KVM_EXIT_HLT with mp_state HALTED, so the
   * VMM's next KVM_RUN blocks in KVM (haltlab exits only when it did halt).
   */
  private emulateHalt(): KvmExit | 0 {
    Atomics.add(this.s.i32, STAT.halt_exits, 1);
    if (!this.caps.irqchipInKernel) return KVM_EXIT.HLT;
    if (this.hasEvents()) return 0;
    Atomics.store(this.v.i32, V.mp_state, MP_STATE.HALTED);
    return this.userspaceExit(KVM_X86_USERSPACE_EXIT.HLT) ? KVM_EXIT.HLT : 0;
  }

  /**
   * kvm_emulate_mwait: a NOP (reference §2.3), so an MWAIT idle loop bounces
   * straight back into the guest. The 2023 proposal: KVM_EXIT_MWAIT when the
   * VMM set the bit for this entry, else yield() (haltlab: when mwait_yield).
   */
  private emulateMwait(): KvmExit | 0 {
    if (this.userspaceExit(KVM_X86_USERSPACE_EXIT.MWAIT)) return KVM_EXIT.MWAIT;
    if (this.caps.userspaceExitsCap && this.caps.mwaitYield) {
      Atomics.add(this.s.i32, STAT.mwait_yields, 1);
      this.setRunState(RUN_STATE.RUNNABLE, now());
      this.sched.yield(this.task); // hands the pCPU over only if another task waits for it
      this.vcpuLoad();
      this.setRunState(RUN_STATE.HOST, now());
    }
    return 0;
  }

  /** The proposal's kvm_run->userspace_exits bit for this KVM_RUN. */
  private userspaceExit(bit: number): boolean {
    return this.caps.userspaceExitsCap && (Atomics.load(this.v.i32, V.userspace_exits) & bit) !== 0;
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
  hasEvents(): boolean {
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
   * injection can come first). `posted`: delivered into a vCPU idling in guest
   * mode, by "hardware", not injected by KVM at entry: not an irq_injection.
   */
  private injectPending(posted = false): void {
    if (!this.guest.interruptsEnabled) return;
    const irr = Atomics.load(this.v.i32, V.irr);
    if (irr === 0) return;
    const line = 31 - Math.clz32(irr & -irr);
    if (line >= IRQ_LINES) throw new Error(`vcpu${this.shared.id}: pending line ${line} does not exist`);
    Atomics.and(this.v.i32, V.irr, ~(1 << line));
    Atomics.add(this.s.i32, posted ? STAT.posted : STAT.irq_injections, 1);
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
