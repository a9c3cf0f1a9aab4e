import { vmmSignalVcpu } from '../kvm/kick.ts';
import type { VcpuRecords } from '../kvm/vcpu-records.ts';
import type { HostRecord } from '../sched/task-state.ts';

/**
 * A VMM's watchdog for its own vCPU thread: timer_create() with SIGEV_THREAD_ID
 * aimed at the thread, as simulators that run a guest for a budget do (seeds/001:
 * "Our fallback currently is to kick the vcpu out of its execution using a
 * signal (via a timeout/alarm)"). The host actor stands for the kernel's
 * timer: at `alarm_at` it signals the thread (signal + immediate_exit), and
 * KVM_RUN returns KVM_EXIT_INTR. Arm and disarm race with the firing through
 * one compare-and-swap: exactly one of them takes an armed alarm.
 */

export function armAlarm(vcpu: VcpuRecords, host: HostRecord, at: number): void {
  vcpu.block.set('alarm_at', at);
  vcpu.block.store('alarm_armed', 1); // publishes alarm_at
  host.wake('doorbell'); // the host recomputes its next wakeup
}

/** True if it took the alarm back before it fired. */
export function disarmAlarm(vcpu: VcpuRecords): boolean {
  return vcpu.block.cas('alarm_armed', 1, 0) === 1;
}

/** The host's side: fire the alarm if it is due; returns when it is due otherwise (Infinity: none). */
export function alarmExpire(vcpu: VcpuRecords, at: number): number {
  const v = vcpu.block;
  if (v.load('alarm_armed') !== 1) return Infinity;
  const due = v.get('alarm_at');
  if (at < due) return due;
  if (v.cas('alarm_armed', 1, 0) === 1) vmmSignalVcpu(vcpu);
  return Infinity;
}
