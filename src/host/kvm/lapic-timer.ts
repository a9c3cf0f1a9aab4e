import type { Record32x64 } from '../../actors/shared-memory.ts';
import { H, HF } from '../sched/task-state.ts';
import { kvmSetIrqPending, kvmVcpuKickForInterrupt, type VcpuShared } from './kick.ts';
import { statIndex } from './stats.ts';
import { kvmLazyTscdeadlineClear, kvmLazyTscdeadlineKick, kvmLazyTscdeadlineUpdate } from './lazy-tscdeadline.ts';
import { LINE, TIMER, V, VF } from './vcpu-state.ts';

/**
 * The LAPIC's TSC-deadline timer (arch/x86/kvm/lapic.c), reduced to who fires
 * it. While the vCPU thread holds its pCPU (guest mode: the VMX preemption
 * timer; halt polling: the hrtimer interrupt lands on the polling pCPU) the
 * vCPU fires it itself. Once it sleeps, the host actor (the hrtimer interrupt
 * of an otherwise idle pCPU) fires it and kicks. Firing is a compare-and-swap
 * on timer_mode, so each armed deadline fires exactly once. With the lazy
 * tscdeadline proposal, an expiry may instead re-arm at the guest's later
 * pending deadline (lazy-tscdeadline.ts), in whichever context it expired.
 */

const FIRED_IN_GUEST = statIndex('timer_fired_in_guest');
const FIRED_BY_HOST = statIndex('timer_fired_by_host');
const FIRED_AT_WRITE = statIndex('timer_fired_at_write');
const DEADLINE_WRITES = statIndex('tsc_deadline_writes');

/** A guest write of MSR_IA32_TSC_DEADLINE, handled on the vCPU thread. */
export function writeTscDeadline(vcpu: VcpuShared, value: number, at: number): void {
  Atomics.add(vcpu.s.i32, DEADLINE_WRITES, 1);
  // Writing 0 disarms; the vCPU owns the timer here (it is running), so no race with the host.
  Atomics.store(vcpu.v.i32, V.timer_mode, TIMER.DISARMED);
  kvmLazyTscdeadlineUpdate(vcpu.v, value);
  if (value === 0) return;
  if (value <= at) {
    // Already expired (start_sw_tscdeadline with timer_advance_ns = 0): pending at once, no timer.
    Atomics.add(vcpu.s.i32, FIRED_AT_WRITE, 1);
    kvmLazyTscdeadlineClear(vcpu.v);
    kvmSetIrqPending(vcpu, LINE.LAPIC_TIMER, at);
    return;
  }
  vcpu.v.f64[VF.tsc_deadline] = value;
  Atomics.store(vcpu.v.i32, V.timer_mode, TIMER.ON_VCPU);
}

/** On the vCPU's own pCPU: is its timer due at `at`? */
export function timerDueOnVcpu(v: Record32x64, at: number): boolean {
  return Atomics.load(v.i32, V.timer_mode) === TIMER.ON_VCPU && at >= v.f64[VF.tsc_deadline];
}

/**
 * The timer expires on the vCPU's own pCPU (no kick: the vCPU is the one
 * running). Returns whether it fired; false also when it re-armed lazily.
 */
export function fireTimerOnVcpu(vcpu: VcpuShared, at: number): boolean {
  if (Atomics.compareExchange(vcpu.v.i32, V.timer_mode, TIMER.ON_VCPU, TIMER.DISARMED) !== TIMER.ON_VCPU) return false;
  const next = kvmLazyTscdeadlineKick(vcpu, at);
  if (next !== 0) {
    // kvm_lapic_expired_hv_timer with the proposal: re-armed at pending, nothing injected.
    vcpu.v.f64[VF.tsc_deadline] = next;
    Atomics.store(vcpu.v.i32, V.timer_mode, TIMER.ON_VCPU);
    return false;
  }
  Atomics.add(vcpu.s.i32, FIRED_IN_GUEST, 1);
  kvmSetIrqPending(vcpu, LINE.LAPIC_TIMER, at);
  return true;
}

/**
 * kvm_lapic_switch_to_sw_timer, when the vCPU thread is about to sleep: hand the
 * armed deadline to the host. If the host actor plans to wake later than this
 * deadline, ring its doorbell so it re-plans.
 */
export function switchTimerToHost(vcpu: VcpuShared, host: Record32x64): void {
  if (Atomics.compareExchange(vcpu.v.i32, V.timer_mode, TIMER.ON_VCPU, TIMER.ON_HOST) !== TIMER.ON_VCPU) return;
  // Dekker with the host actor: it publishes next_expiry then bumps expiry_gen, then scans timer_mode.
  Atomics.load(host.i32, H.expiry_gen);
  if (vcpu.v.f64[VF.tsc_deadline] < host.f64[HF.next_expiry]) {
    Atomics.add(host.i32, H.doorbell, 1);
    Atomics.notify(host.i32, H.doorbell);
  }
}

/**
 * kvm_lapic_switch_to_hv_timer, once scheduled back in; a no-op if the host
 * fired it meanwhile. A host callback still running is waited for, as
 * hrtimer_cancel() waits (it may be re-arming the timer, not firing it).
 */
export function switchTimerToVcpu(vcpu: VcpuShared): void {
  while (Atomics.compareExchange(vcpu.v.i32, V.timer_mode, TIMER.ON_HOST, TIMER.ON_VCPU) === TIMER.HOST_FIRING) {
    // A host thread that died mid-callback must not hang the vCPU: the VMM's signal (stop) ends the wait.
    if (Atomics.load(vcpu.v.i32, V.signal_pending)) return;
  }
}

/**
 * The host's hrtimer interrupt (apic_timer_fn): fire the vCPU's timer if the
 * host owns it and it is due, or, with the lazy proposal, re-arm it at the
 * guest's later pending deadline without waking the vCPU. Returns the
 * deadline still armed on the host (Infinity if none).
 */
export function hostTimerExpire(vcpu: VcpuShared, at: number, onFire: (lateNs: number) => void): number {
  const v = vcpu.v;
  if (Atomics.load(v.i32, V.timer_mode) !== TIMER.ON_HOST) return Infinity;
  const deadline = v.f64[VF.tsc_deadline];
  if (at < deadline) return deadline;
  if (Atomics.compareExchange(v.i32, V.timer_mode, TIMER.ON_HOST, TIMER.HOST_FIRING) !== TIMER.ON_HOST) return Infinity;
  // Read the deadline again now that it cannot change: between the first read and the CAS the
  // vCPU may have taken the timer back, fired it, armed a later one and slept (ON_HOST again).
  const armed = v.f64[VF.tsc_deadline];
  if (at < armed) {
    Atomics.store(v.i32, V.timer_mode, TIMER.ON_HOST);
    return armed;
  }
  const next = kvmLazyTscdeadlineKick(vcpu, at);
  if (next !== 0) {
    v.f64[VF.tsc_deadline] = next;
    Atomics.store(v.i32, V.timer_mode, TIMER.ON_HOST); // HRTIMER_RESTART
    return next;
  }
  Atomics.add(vcpu.s.i32, FIRED_BY_HOST, 1);
  onFire(at - armed);
  kvmSetIrqPending(vcpu, LINE.LAPIC_TIMER, at);
  Atomics.store(v.i32, V.timer_mode, TIMER.DISARMED);
  kvmVcpuKickForInterrupt(vcpu);
  return Infinity;
}
