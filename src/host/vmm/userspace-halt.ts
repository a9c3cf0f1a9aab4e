import { now } from '../../actors/clock.ts';
import { futexWait } from '../../actors/futex.ts';
import type { KvmVcpu } from '../kvm/kvm-vcpu.ts';
import { switchTimerToHost, switchTimerToVcpu } from '../kvm/lapic-timer.ts';
import { IDLE_WAIT } from '../kvm/vcpu-state.ts';
import { RUN_STATE } from '../thread-state.ts';

/**
 * The VMM's halt, for a VM without an in-kernel irqchip: KVM_RUN returned
 * KVM_EXIT_HLT and the VMM owns the wakeup (reference §2.1). QEMU's
 * kvm_handle_halt marks the CPU halted unless an unmasked interrupt is
 * pending; qemu_wait_io_event then sleeps on halt_cond until there is work,
 * and the next KVM_RUN injects the interrupt. No halt polling: KVM never sees
 * this halt. (The 2023 arm64 request's KVM_EXIT_WFX is waited for the same way.)
 */

/** Returns once an interrupt is pending, or the VMM was kicked (a stop). Returns whether it slept. */
export function vmmHaltWait(vcpu: KvmVcpu): boolean {
  const v = vcpu.block;
  if (vcpu.hasEvents()) return false; // cpu_has_work
  vcpu.setRunState(RUN_STATE.VMM_HALTED, now());
  vcpu.sched.release(vcpu.task); // qemu_cond_wait sleeps: the pCPU goes to the next runnable task
  // The APIC timer belongs to the VMM's timer thread (QEMU's main loop), here the host actor.
  switchTimerToHost(vcpu, vcpu.host);
  v.store('idle_wait', IDLE_WAIT.VMM_HALTED);
  for (;;) {
    const seen = v.load('kick'); // halt_cond: every interrupt sender and qemu_cpu_kick bump it
    if (vcpu.hasEvents() || v.load('signal_pending')) break;
    futexWait(v.i32, v.I.kick, seen);
  }
  v.store('idle_wait', IDLE_WAIT.NONE);
  vcpu.setRunState(RUN_STATE.RUNNABLE, now());
  vcpu.sched.acquire(vcpu.task);
  switchTimerToVcpu(vcpu);
  return true;
}
