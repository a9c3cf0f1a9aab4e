import type { HostRecord } from '../sched/task-state.ts';
import { kvmSetIrqPending, kvmVcpuKickForInterrupt } from './kick.ts';
import { kvmLazyTscdeadlineClear, kvmLazyTscdeadlineKick, kvmLazyTscdeadlineUpdate, kvmLazyTscdeadlineWillRearm } from './lazy-tscdeadline.ts';
import type { VcpuRecords } from './vcpu-records.ts';
import { LINE, TIMER, type VcpuRecord } from './vcpu-state.ts';

/**
 * The LAPIC's TSC-deadline timer (arch/x86/kvm/lapic.c), reduced to who fires
 * it. While the vCPU thread holds its pCPU (guest mode: the VMX preemption
 * timer; halt polling: the hrtimer interrupt lands on the polling pCPU) the
 * vCPU fires it itself. Once it sleeps, the hrtimer fires it and kicks: the
 * sleeping thread's own timed wait (ON_SLEEPER, one OS wakeup, as the pinned
 * hrtimer's interrupt wakes the task directly), or the host actor (ON_HOST)
 * where an expiry must not wake the task. Firing is a compare-and-swap
 * on timer_mode, so each armed deadline fires exactly once. With the lazy
 * tscdeadline proposal, an expiry may instead re-arm at the guest's later
 * pending deadline (lazy-tscdeadline.ts), in whichever context it expired.
 */

/** When the armed deadline timer expires: timer_advance_ns before the deadline (the hrtimer or preemption timer is armed that early). */
export const timerExpiry = (v: VcpuRecord): number => v.f64[v.F.tsc_deadline] - v.f64[v.F.timer_advance_ns];

/**
 * apic_timer_expired(): lapic_timer.pending, then the interrupt line. `timer_pending` ends a poll
 * or a sleep whatever the guest's IF (kvm_vcpu_check_block); vcpu_run clears it once injected.
 */
function lapicTimerExpired(vcpu: VcpuRecords, at: number): void {
  vcpu.block.store('timer_pending', 1);
  kvmSetIrqPending(vcpu, LINE.LAPIC_TIMER, at);
}

/** A guest write of MSR_IA32_TSC_DEADLINE, handled on the vCPU thread. */
export function writeTscDeadline(vcpu: VcpuRecords, value: number, at: number): void {
  const v = vcpu.block;
  vcpu.stats.add('tsc_deadline_writes', 1);
  // Writing 0 disarms; the vCPU owns the timer here (it is running), so no race with the host.
  v.store('timer_mode', TIMER.DISARMED);
  kvmLazyTscdeadlineUpdate(v, value);
  if (value === 0) return;
  if (value - at <= v.get('timer_advance_ns')) {
    // Already expired (start_sw_tscdeadline: not more than timer_advance_ns ahead): pending at once, no timer.
    v.set('expired_tscdeadline', value);
    vcpu.stats.add('timer_fired_at_write', 1);
    kvmLazyTscdeadlineClear(v);
    lapicTimerExpired(vcpu, at);
    return;
  }
  v.set('tsc_deadline', value);
  v.store('timer_mode', TIMER.ON_VCPU);
}

/** On the vCPU's own pCPU: is its timer due at `at`? (Checked on every step of a poll and of guest compute.) */
export function timerDueOnVcpu(v: VcpuRecord, at: number): boolean {
  return Atomics.load(v.i32, v.I.timer_mode) === TIMER.ON_VCPU && at >= timerExpiry(v);
}

/**
 * The timer expires on the vCPU's own pCPU (no kick: the vCPU is the one
 * running). Returns whether it fired; false also when it re-armed lazily.
 */
export function fireTimerOnVcpu(vcpu: VcpuRecords, at: number): boolean {
  const v = vcpu.block;
  if (v.cas('timer_mode', TIMER.ON_VCPU, TIMER.DISARMED) !== TIMER.ON_VCPU) return false;
  const next = kvmLazyTscdeadlineKick(vcpu, at);
  if (next !== 0) {
    // kvm_lapic_expired_hv_timer with the proposal: re-armed at pending, nothing injected.
    v.set('tsc_deadline', next);
    v.store('timer_mode', TIMER.ON_VCPU);
    return false;
  }
  vcpu.stats.add('timer_fired_in_guest', 1);
  v.set('expired_tscdeadline', v.get('tsc_deadline'));
  lapicTimerExpired(vcpu, at);
  return true;
}

/**
 * kvm_lapic_switch_to_sw_timer, when the vCPU thread is about to sleep: hand the
 * armed deadline to the host. If the host actor plans to wake later than this
 * deadline, ring its doorbell so it re-plans.
 */
export function switchTimerToHost(vcpu: VcpuRecords, host: HostRecord): void {
  if (vcpu.block.cas('timer_mode', TIMER.ON_VCPU, TIMER.ON_HOST) !== TIMER.ON_VCPU) return;
  // Dekker with the host actor: it publishes next_expiry then bumps expiry_gen, then scans timer_mode.
  host.load('expiry_gen');
  if (timerExpiry(vcpu.block) < host.get('next_expiry')) host.wake('doorbell');
}

/**
 * kvm_lapic_switch_to_sw_timer in kvm_vcpu_block(): the hrtimer is pinned to
 * the pCPU the vCPU sleeps on (HRTIMER_MODE_ABS_HARD), so its interrupt wakes
 * the task itself, one wakeup. The sleeping thread stands for that hrtimer: it
 * waits with the expiry as its timeout (sleeperTimeoutNs) and runs the
 * callback when it times out (sleeperTimerExpire). Only an expiry that the
 * lazy proposal will turn into a re-arm goes to the host actor instead: a
 * thread woken to re-arm would be a wakeup the kernel does not have.
 */
export function switchTimerToSleeper(vcpu: VcpuRecords, host: HostRecord): void {
  if (kvmLazyTscdeadlineWillRearm(vcpu.block)) return switchTimerToHost(vcpu, host);
  vcpu.block.cas('timer_mode', TIMER.ON_VCPU, TIMER.ON_SLEEPER);
}

/** How long the sleeping vCPU thread may wait before its own hrtimer expires (undefined: none armed on it). */
export function sleeperTimeoutNs(v: VcpuRecord, at: number): number | undefined {
  return Atomics.load(v.i32, v.I.timer_mode) === TIMER.ON_SLEEPER ? Math.max(0, timerExpiry(v) - at) : undefined;
}

/**
 * apic_timer_fn() on the sleeping vCPU's own pCPU, run by its thread once its
 * timed wait ends: fire if due, then kvm_vcpu_kick() the task (still
 * TASK_INTERRUPTIBLE: a halt_wakeup, as in the kernel). Only this thread
 * touches an ON_SLEEPER timer, so no compare-and-swap race. Returns the
 * hrtimer's lateness, or -1 if it was not due (the wait ended for another reason).
 */
export function sleeperTimerExpire(vcpu: VcpuRecords, at: number): number {
  const v = vcpu.block;
  if (Atomics.load(v.i32, v.I.timer_mode) !== TIMER.ON_SLEEPER) return -1;
  const expiry = timerExpiry(v);
  if (at < expiry) return -1;
  kvmLazyTscdeadlineClear(v); // kvm_lazy_tscdeadline_kick finds no later deadline: switchTimerToSleeper checked
  hrtimerExpired(vcpu, v.get('tsc_deadline'), at);
  return at - expiry;
}

/** apic_timer_fn's firing half, whichever thread runs the hrtimer: the deadline is pending, the timer disarmed, the sleeper kicked. */
function hrtimerExpired(vcpu: VcpuRecords, deadline: number, at: number): void {
  vcpu.stats.add('timer_fired_by_host', 1);
  vcpu.block.set('expired_tscdeadline', deadline);
  lapicTimerExpired(vcpu, at);
  vcpu.block.store('timer_mode', TIMER.DISARMED);
  kvmVcpuKickForInterrupt(vcpu);
}

/**
 * kvm_lapic_switch_to_hv_timer, once scheduled back in; a no-op if the hrtimer
 * fired it meanwhile. A host callback still running is waited for, as
 * hrtimer_cancel() waits (it may be re-arming the timer, not firing it).
 */
export function switchTimerToVcpu(vcpu: VcpuRecords): void {
  const v = vcpu.block;
  if (v.cas('timer_mode', TIMER.ON_SLEEPER, TIMER.ON_VCPU) === TIMER.ON_SLEEPER) return;
  while (v.cas('timer_mode', TIMER.ON_HOST, TIMER.ON_VCPU) === TIMER.HOST_FIRING) {
    // A host thread that died mid-callback must not hang the vCPU: the VMM's signal (stop) ends the wait.
    if (v.load('signal_pending')) return;
  }
}

/**
 * The host's hrtimer interrupt (apic_timer_fn): fire the vCPU's timer if the
 * host owns it and it is due, or, with the lazy proposal, re-arm it at the
 * guest's later pending deadline without waking the vCPU. Returns the
 * deadline still armed on the host (Infinity if none).
 */
export function hostTimerExpire(vcpu: VcpuRecords, at: number, onFire: (lateNs: number) => void): number {
  const v = vcpu.block;
  if (v.load('timer_mode') !== TIMER.ON_HOST) return Infinity;
  const expiry = timerExpiry(v);
  if (at < expiry) return expiry;
  if (v.cas('timer_mode', TIMER.ON_HOST, TIMER.HOST_FIRING) !== TIMER.ON_HOST) return Infinity;
  // Read the deadline again now that it cannot change: between the first read and the CAS the
  // vCPU may have taken the timer back, fired it, armed a later one and slept (ON_HOST again).
  const armed = v.get('tsc_deadline');
  const advance = v.get('timer_advance_ns');
  if (at < armed - advance) {
    v.store('timer_mode', TIMER.ON_HOST);
    return armed - advance;
  }
  const next = kvmLazyTscdeadlineKick(vcpu, at);
  if (next !== 0) {
    v.set('tsc_deadline', next);
    v.store('timer_mode', TIMER.ON_HOST); // HRTIMER_RESTART
    return next - advance;
  }
  onFire(at - (armed - advance)); // the hrtimer's own lateness, from when it was armed to fire
  hrtimerExpired(vcpu, armed, at);
  return Infinity;
}
