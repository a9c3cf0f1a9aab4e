import { now } from '../../actors/clock.ts';
import { futexWait } from '../../actors/futex.ts';
import type { Record32x64 } from '../../actors/shared-memory.ts';
import type { VcpuShared } from '../kvm/kick.ts';
import { switchTimerToHost, switchTimerToVcpu } from '../kvm/lapic-timer.ts';
import { IDLE_WAIT, RUN_STATE, V } from '../kvm/vcpu-state.ts';
import type { Scheduler } from '../sched/scheduler.ts';

/**
 * The VMM's halt, for a VM without an in-kernel irqchip: KVM_RUN returned
 * KVM_EXIT_HLT and the VMM owns the wakeup (reference §2.1). QEMU's
 * kvm_handle_halt marks the CPU halted unless an unmasked interrupt is
 * pending; qemu_wait_io_event then sleeps on halt_cond until there is work,
 * and the next KVM_RUN injects the interrupt. No halt polling: KVM never sees
 * this halt.
 */

export interface VmmHaltHost {
  readonly vcpu: VcpuShared;
  readonly task: number;
  readonly sched: Scheduler;
  readonly host: Record32x64;
  /** An unmasked interrupt is pending (cpu_has_work). */
  hasEvents(): boolean;
  setRunState(state: number, at: number): void;
}

/** Returns once an interrupt is pending, or the VMM was kicked (a stop). Returns whether it slept. */
export function vmmHaltWait(h: VmmHaltHost): boolean {
  const v = h.vcpu.v;
  if (h.hasEvents()) return false;
  h.setRunState(RUN_STATE.VMM_HALTED, now());
  h.sched.release(h.task); // qemu_cond_wait sleeps: the pCPU goes to the next runnable task
  // The APIC timer belongs to the VMM's timer thread (QEMU's main loop), here the host actor.
  switchTimerToHost(h.vcpu, h.host);
  Atomics.store(v.i32, V.idle_wait, IDLE_WAIT.VMM_HALTED);
  for (;;) {
    const seen = Atomics.load(v.i32, V.kick); // halt_cond: every interrupt sender and qemu_cpu_kick bump it
    if (h.hasEvents() || Atomics.load(v.i32, V.signal_pending)) break;
    futexWait(v.i32, V.kick, seen);
  }
  Atomics.store(v.i32, V.idle_wait, IDLE_WAIT.NONE);
  h.setRunState(RUN_STATE.RUNNABLE, now());
  h.sched.acquire(h.task);
  switchTimerToVcpu(h.vcpu);
  return true;
}
