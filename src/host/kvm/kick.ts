import { futexBumpAndWake } from '../../actors/futex.ts';
import { IDLE_WAIT, MODE, RCUWAIT, type VcpuRecord } from './vcpu-state.ts';
import type { VcpuRecords } from './vcpu-records.ts';

/**
 * Waking and kicking a vCPU from another thread (virt/kvm/kvm_main.c).
 * The vCPU marks itself TASK_INTERRUPTIBLE on its wait before it reads the
 * kick word and checks for events; a waker makes the event visible before it
 * reads that state. Either the waker sees INTERRUPTIBLE and bumps + notifies,
 * or the vCPU's check sees the event: no wakeup is lost.
 */

// The wake path: word indices are read straight off the records (no method call between the
// event and the notify).

/**
 * __kvm_vcpu_wake_up: rcuwait_wake_up() on the vCPU's wait. True, and
 * halt_wakeup counted, only if it woke a task that was TASK_INTERRUPTIBLE; a
 * task already woken (or a vCPU still polling) is not woken twice.
 */
export function kvmVcpuWakeUp(vcpu: VcpuRecords): boolean {
  const v = vcpu.block;
  // Load before the CAS: a polling or running vCPU reads this cache line in its loop; a failing
  // CAS would still take the line exclusive and slow the very vCPU being woken.
  if (Atomics.load(v.i32, v.I.rcuwait) !== RCUWAIT.INTERRUPTIBLE) return false;
  if (Atomics.compareExchange(v.i32, v.I.rcuwait, RCUWAIT.INTERRUPTIBLE, RCUWAIT.RUNNING) !== RCUWAIT.INTERRUPTIBLE) return false;
  Atomics.add(vcpu.stats.i32, vcpu.stats.I.halt_wakeup, 1);
  futexBumpAndWake(v.i32, v.I.kick);
  return true;
}

/**
 * kvm_vcpu_kick: wake it if it sleeps; else, if it is in guest mode, flip
 * IN_GUEST_MODE -> EXITING_GUEST_MODE (the reschedule IPI makes it exit).
 * A polling vCPU needs neither: it sees the event itself. Returns whether it woke a sleeper.
 */
export function kvmVcpuKick(vcpu: VcpuRecords): boolean {
  if (kvmVcpuWakeUp(vcpu)) return true;
  kickRunning(vcpu.block);
  return false;
}

/**
 * The IPI half of a kick for a vCPU that is not asleep in kvm_vcpu_block(): in guest mode it
 * exits (IN_GUEST_MODE -> EXITING_GUEST_MODE); a guest halted in guest mode, or the VMM's own
 * halt wait, is woken.
 */
function kickRunning(v: VcpuRecord): void {
  if (Atomics.load(v.i32, v.I.mode) === MODE.IN_GUEST_MODE) {
    Atomics.compareExchange(v.i32, v.I.mode, MODE.IN_GUEST_MODE, MODE.EXITING_GUEST_MODE);
  }
  wakeIdleWaiter(v);
}

/**
 * Wake whoever waits for this vCPU's next event outside kvm_vcpu_block()
 * (IDLE_WAIT): the guest in a native HLT/MWAIT or (arm64) an untrapped WFI/WFE,
 * or the VMM's halt wait. Called
 * after the event is published; the waiter sets idle_wait before it reads the
 * kick word and re-checks, so no wake is lost. Returns whether one was waiting.
 */
export function wakeIdleWaiter(v: VcpuRecord): boolean {
  if (Atomics.load(v.i32, v.I.idle_wait) === IDLE_WAIT.NONE) return false;
  futexBumpAndWake(v.i32, v.I.kick);
  return true;
}

/**
 * Tell a vCPU that an interrupt was made pending (kvmSetIrqPending): the
 * delivery half of __vmx_deliver_posted_interrupt (reference §2.7). A vCPU
 * idling in guest mode (native HLT/MWAIT) gets the posted-interrupt
 * notification: it wakes and takes the interrupt without a VM exit. An arm64
 * vCPU in an untrapped WFI/WFE is woken the same way; what it then does
 * (direct injection, or an IRQ exit without GICv4) is its own (KvmVcpu.idleInGuest). A VMM
 * halted in userspace is woken (qemu_cpu_kick's halt_cond). With APICv/AVIC, a
 * vCPU running guest code gets the notification too (the ON bit) and takes the
 * interrupt in guest mode, without an exit. Anyone else gets kvm_vcpu_kick().
 * Returns whether it woke a sleeper in kvm_vcpu_block().
 */
export function kvmVcpuKickForInterrupt(vcpu: VcpuRecords): boolean {
  const v = vcpu.block;
  if (wakeIdleWaiter(v)) return false;
  if (Atomics.load(v.i32, v.I.apicv) && Atomics.load(v.i32, v.I.mode) === MODE.IN_GUEST_MODE) {
    // If the vCPU leaves guest mode meanwhile, the interrupt is still in irr: injected at its next entry.
    Atomics.store(v.i32, v.I.pi_on, 1);
    return false;
  }
  return kvmVcpuKick(vcpu);
}

/**
 * smp_send_reschedule() to the pCPU of a vCPU, as the scheduler tick does to
 * preempt it: a vCPU in guest mode exits (IN_GUEST_MODE -> EXITING_GUEST_MODE);
 * a polling or sleeping one sees need_resched itself. It wakes no one, so it
 * is not a halt_wakeup.
 */
export function smpSendReschedule(vcpu: VcpuRecords): void {
  const v = vcpu.block;
  if (Atomics.load(v.i32, v.I.mode) === MODE.IN_GUEST_MODE) {
    Atomics.compareExchange(v.i32, v.I.mode, MODE.IN_GUEST_MODE, MODE.EXITING_GUEST_MODE);
    wakeIdleWaiter(v); // the IPI ends a native HLT/MWAIT (or an untrapped WFI/WFE) with an exit
  }
}

/**
 * Make interrupt `line` pending, stamped with `at` (the start of its wake-latency
 * sample). Returns false when it was already pending (coalesced, as a LAPIC
 * timer that is already pending does nothing). The caller kicks.
 */
export function kvmSetIrqPending(vcpu: VcpuRecords, line: number, at: number): boolean {
  const v = vcpu.block;
  const bit = 1 << line;
  if (Atomics.load(v.i32, v.I.irr) & bit) return false;
  v.f64[v.F.pending_since + line] = at; // published by the atomic or below
  return (Atomics.or(v.i32, v.I.irr, bit) & bit) === 0;
}

/**
 * signal_wake_up() (kernel/signal.c): a signal wakes its task directly (wake_up_state on
 * TASK_INTERRUPTIBLE) or, if the task runs, IPIs its CPU (kick_process). It never goes through
 * kvm_vcpu_wake_up(), so a halt that only a signal ends counts no halt_wakeup.
 */
export function signalWakeUp(vcpu: VcpuRecords): void {
  const v = vcpu.block;
  if (Atomics.compareExchange(v.i32, v.I.rcuwait, RCUWAIT.INTERRUPTIBLE, RCUWAIT.RUNNING) === RCUWAIT.INTERRUPTIBLE) {
    futexBumpAndWake(v.i32, v.I.kick);
    return;
  }
  kickRunning(v);
}

/** Signal the vCPU thread as a VMM does (pthread_kill SIG_IPI): KVM_RUN returns KVM_EXIT_INTR. */
export function vmmSignalVcpu(vcpu: VcpuRecords): void {
  vcpu.block.store('signal_pending', 1);
  vcpu.block.store('immediate_exit', 1); // the SIG_IPI handler's only job (QEMU kvm_ipi_signal)
  // qemu_cpu_kick broadcasts halt_cond (the VMM's own halt wait) and sends the signal.
  signalWakeUp(vcpu);
}
