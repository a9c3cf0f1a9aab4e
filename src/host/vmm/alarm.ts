import type { Record32x64 } from '../../actors/shared-memory.ts';
import { vmmSignalVcpu, type VcpuShared } from '../kvm/kick.ts';
import { V, VF } from '../kvm/vcpu-state.ts';
import { H } from '../sched/task-state.ts';

/**
 * A VMM's watchdog for its own vCPU thread: timer_create() with SIGEV_THREAD_ID
 * aimed at the thread, as simulators that run a guest for a budget do (seeds/001:
 * "Our fallback currently is to kick the vcpu out of its execution using a
 * signal (via a timeout/alarm)"). The host actor stands for the kernel's
 * timer: at `alarm_at` it signals the thread (signal + immediate_exit), and
 * KVM_RUN returns KVM_EXIT_INTR. Arm and disarm race with the firing through
 * one compare-and-swap: exactly one of them takes an armed alarm.
 */

export function armAlarm(vcpu: VcpuShared, host: Record32x64, at: number): void {
  vcpu.v.f64[VF.alarm_at] = at;
  Atomics.store(vcpu.v.i32, V.alarm_armed, 1); // publishes alarm_at
  Atomics.add(host.i32, H.doorbell, 1); // the host recomputes its next wakeup
  Atomics.notify(host.i32, H.doorbell);
}

/** True if it took the alarm back before it fired. */
export function disarmAlarm(vcpu: VcpuShared): boolean {
  return Atomics.compareExchange(vcpu.v.i32, V.alarm_armed, 1, 0) === 1;
}

/** The host's side: fire the alarm if it is due; returns when it is due otherwise (Infinity: none). */
export function alarmExpire(vcpu: VcpuShared, at: number): number {
  if (Atomics.load(vcpu.v.i32, V.alarm_armed) !== 1) return Infinity;
  const due = vcpu.v.f64[VF.alarm_at];
  if (at < due) return due;
  if (Atomics.compareExchange(vcpu.v.i32, V.alarm_armed, 1, 0) === 1) vmmSignalVcpu(vcpu);
  return Infinity;
}
