import { GUEST_EXIT } from '../../../guest/interpreter.ts';
import type { ExitTable } from '../arch.ts';
import type { X86_EXIT_REASONS } from '../stats.ts';
import { KVM_EXIT, KVM_X86_USERSPACE_EXIT, type KvmExit } from '../uapi.ts';
import { kvmVcpuOnSpin } from '../directed-yield.ts';
import type { KvmVcpu } from '../kvm-vcpu.ts';
import { handleIoOut, handleMsrWrite } from '../shared-exits.ts';
import { growPleWindow } from '../ple.ts';
import { MP_STATE } from '../vcpu-state.ts';
import type { X86Vcpu } from './x86.ts';

/**
 * kvm_vmx_exit_handlers[] (arch/x86/kvm/vmx/vmx.c): one row per VMX basic
 * exit reason the model's guest can cause, with the guest exits the hardware
 * reports under it and the handler. The reason's name is its statistic
 * (`exit_<REASON>`, `perf kvm stat`'s name) and its key in the results;
 * adding a row adds both. A guest exit with no row is an unhandled exit.
 */
export const VMX_EXIT_HANDLERS = {
  EXTERNAL_INTERRUPT: {
    on: [GUEST_EXIT.EXTERNAL_INTERRUPT],
    handle(vcpu, exit, at) {
      vcpu.stats.add('irq_exits', 1);
      // Without the preemption timer the deadline is the host hrtimer interrupting the guest: its callback fires the timer.
      if (exit === GUEST_EXIT.PREEMPTION_TIMER) vcpu.fireOwnTimer(at);
      return 0;
    },
  },
  HLT: { on: [GUEST_EXIT.HLT], handle: (vcpu) => emulateHalt(vcpu) },
  MSR_WRITE: { on: [GUEST_EXIT.MSR_WRITE], handle: handleMsrWrite },
  PREEMPTION_TIMER: {
    on: [GUEST_EXIT.PREEMPTION_TIMER],
    handle(vcpu, _exit, at) {
      vcpu.fireOwnTimer(at);
      return 0;
    },
  },
  INTERRUPT_WINDOW: { on: [GUEST_EXIT.INTERRUPT_WINDOW], handle: () => 0 }, // the next entry injects
  IO_INSTRUCTION: { on: [GUEST_EXIT.IO_INSTRUCTION], handle: handleIoOut },
  MWAIT_INSTRUCTION: { on: [GUEST_EXIT.MWAIT_INSTRUCTION], handle: (vcpu) => emulateMwait(vcpu) },
  MONITOR_INSTRUCTION: { on: [GUEST_EXIT.MONITOR_INSTRUCTION], handle: () => 0 }, // kvm_emulate_monitor: skipped, nothing armed
  PAUSE_INSTRUCTION: {
    on: [GUEST_EXIT.PAUSE_INSTRUCTION],
    handle(vcpu) {
      handlePause(vcpu);
      return 0;
    },
  },
} as const satisfies ExitTable<X86Vcpu, (typeof X86_EXIT_REASONS)[number]>;

/** The 2023 proposal's kvm_run->userspace_exits bit for this KVM_RUN. */
function userspaceExit(vcpu: KvmVcpu, bit: number): boolean {
  return vcpu.caps.userspaceExitsCap && (vcpu.block.load('userspace_exits') & bit) !== 0;
}

/**
 * __kvm_emulate_halt. Without an in-kernel LAPIC: KVM_EXIT_HLT, the VMM owns
 * the wakeup. With one: halt unless an event is already there; the 2023
 * proposal's HLT bit then returns KVM_EXIT_HLT with mp_state HALTED, so the
 * VMM's next KVM_RUN blocks in KVM (haltlab exits only when it did halt).
 */
function emulateHalt(vcpu: KvmVcpu): KvmExit | 0 {
  vcpu.stats.add('halt_exits', 1);
  if (!vcpu.caps.irqchipInKernel) return KVM_EXIT.HLT;
  if (vcpu.hasEvents()) return 0;
  vcpu.block.store('mp_state', MP_STATE.HALTED);
  return userspaceExit(vcpu, KVM_X86_USERSPACE_EXIT.HLT) ? KVM_EXIT.HLT : 0;
}

/**
 * kvm_emulate_mwait: a NOP (reference §2.3), so an MWAIT idle loop bounces
 * straight back into the guest. The 2023 proposal: KVM_EXIT_MWAIT when the
 * VMM set the bit for this entry, else yield() (haltlab: when mwait_yield).
 */
function emulateMwait(vcpu: KvmVcpu): KvmExit | 0 {
  if (userspaceExit(vcpu, KVM_X86_USERSPACE_EXIT.MWAIT)) return KVM_EXIT.MWAIT;
  if (vcpu.caps.userspaceExitsCap && vcpu.caps.mwaitYield) {
    vcpu.stats.add('mwait_yields', 1);
    vcpu.sched.yield(vcpu.task); // hands the pCPU over only if another task waits for it
  }
  return 0;
}

/** handle_pause(): grow the window, kvm_vcpu_on_spin(vcpu, true); the PAUSE is already skipped. */
function handlePause(vcpu: KvmVcpu<X86Vcpu>): void {
  const x86 = vcpu.arch;
  if (!x86.pauseInGuest) vcpu.block.set('ple_window', growPleWindow(vcpu.block.get('ple_window'), x86.ple));
  const r = kvmVcpuOnSpin(x86.onSpinVm, vcpu.id, true);
  if (r.tried.length) vcpu.stats.add('on_spin_yield_attempted', r.tried.length);
  if (r.boosted >= 0) vcpu.stats.add('on_spin_yield_successful', 1);
  if (r.failed) vcpu.stats.add('on_spin_yield_failed', r.failed);
}
