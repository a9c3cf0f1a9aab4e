import { GUEST_EXIT } from '../../../guest/interpreter.ts';
import { exitEntries, type ExitEntry, type KvmVcpuArch } from '../arch.ts';
import type { OnSpinVm } from '../directed-yield.ts';
import { KvmError } from '../errors.ts';
import type { KvmVcpu } from '../kvm-vcpu.ts';
import { sharedOnSpinVm } from '../on-spin-vm.ts';
import { kvmPauseInGuest, PauseLoopDetector, shrinkPleWindow, type PleParams } from '../ple.ts';
import { LAPIC_TIMER_ADVANCE_NS_INIT } from '../timer-advance.ts';
import { VMX_EXIT_HANDLERS } from './exits.ts';

/**
 * vcpu->arch on x86 (VMX): the PAUSE-loop exiting state (vmx->ple_window is in
 * the shared VCPU record), the LAPIC timer's advance and whether the deadline
 * can use the VMX preemption timer, and the exit table.
 */
export class X86Vcpu implements KvmVcpuArch {
  readonly name = 'x86';
  readonly exits: readonly (ExitEntry | undefined)[];
  readonly hltInGuest: boolean;
  readonly mwaitInGuest: boolean;
  readonly directInjection = false;
  readonly wakeNeedsUnmasked = true; // RFLAGS.IF
  /** kvm->arch.pause_in_guest: ple_gap=0, or KVM_X86_DISABLE_EXITS_PAUSE enabled on the VM. */
  readonly pauseInGuest: boolean;
  /**
   * The LAPIC timer can use the VMX preemption timer (an exit of its own);
   * kvm_can_use_hv_timer() is false with mwait_in_guest, and the host hrtimer
   * then interrupts the guest (an external-interrupt exit). Reference §2.2.
   */
  readonly hvTimer: boolean;
  readonly onSpinVm: OnSpinVm;
  private readonly pauseLoop = new PauseLoopDetector();

  constructor(
    private readonly vcpu: KvmVcpu,
    /** kvm_intel's ple_* parameters (read once: they are 0444). */
    readonly ple: PleParams,
  ) {
    const { caps, block } = vcpu;
    this.hltInGuest = caps.hltInGuest;
    this.mwaitInGuest = caps.mwaitInGuest;
    this.hvTimer = !caps.mwaitInGuest;
    this.pauseInGuest = kvmPauseInGuest(ple, caps.pauseInGuest);
    // kvm.lapic_timer_advance (default on): each vCPU starts at LAPIC_TIMER_ADVANCE_NS_INIT and adapts.
    block.set('timer_advance_ns', vcpu.kvm.load('lapic_timer_advance') !== 0 ? LAPIC_TIMER_ADVANCE_NS_INIT : 0);
    this.onSpinVm = sharedOnSpinVm(vcpu);
    const exits = exitEntries(vcpu as KvmVcpu<X86Vcpu>, VMX_EXIT_HANDLERS);
    // Without the preemption timer, the deadline is the host hrtimer interrupting the guest: reported as one.
    if (!this.hvTimer) exits[GUEST_EXIT.PREEMPTION_TIMER] = { ...exits[GUEST_EXIT.EXTERNAL_INTERRUPT]!, traced: GUEST_EXIT.EXTERNAL_INTERRUPT };
    this.exits = exits;
  }

  /**
   * vmx_vcpu_load() via kvm_arch_vcpu_load(): a vCPU loaded again after it was
   * scheduled out (blocked, preempted or yielded: vcpu->scheduled_out) shrinks
   * its PLE window (6.11+; kvm_arch_sched_in before).
   */
  load(): void {
    if (this.vcpu.scheduledOut && !this.pauseInGuest) this.vcpu.block.set('ple_window', shrinkPleWindow(this.vcpu.block.get('ple_window'), this.ple));
  }

  pauseLoopExit(cycles: number, at: number): boolean {
    return !this.pauseInGuest && this.pauseLoop.pause(cycles, at, this.ple.ple_gap, this.vcpu.block.get('ple_window'));
  }

  enter(): void {
    this.pauseLoop.enter(); // a new entry: the PAUSE-loop detector starts afresh
  }

  wfxTrapped(wfe: boolean): boolean {
    throw new KvmError('wrong-arch', this.vcpu.id, `${wfe ? 'WFE' : 'WFI'} on an x86 host (host.arch is x86)`);
  }
}
