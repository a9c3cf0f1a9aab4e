import { RUN_STATE } from '../thread-state.ts';
import { now } from '../../actors/clock.ts';
import type { KvmVcpu } from './kvm-vcpu.ts';

/**
 * vcpu_load() / vcpu_put() and the preempt notifier (virt/kvm/kvm_main.c):
 * KVM_RUN loads the vCPU on entry, and while it runs the host scheduler tells
 * it when its thread loses a pCPU (kvm_sched_out) and gets one again
 * (kvm_sched_in, which loads it there). Nothing calls the load by hand, so
 * `vcpu_loads` counts exactly the KVM_RUN entries and the real sched-ins
 * inside them, never a yield that kept the pCPU.
 *
 * haltlab registers the notifier once, when the vCPU is created, rather than
 * in each vcpu_load(): a sched-out while the VMM holds the thread (a pause, a
 * userspace halt) then marks the vCPU scheduled out too, and its next load
 * shrinks the PLE window, as it always has here. Loads still happen only
 * inside KVM_RUN.
 */

/** kvm_arch_vcpu_load(). */
function kvmArchVcpuLoad(vcpu: KvmVcpu, cpu: number): void {
  vcpu.stats.add('vcpu_loads', 1);
  vcpu.arch.load(cpu);
  vcpu.scheduledOut = false;
}

/** KVM_RUN's vcpu_load(): the caller (the VMM's vCPU loop) holds a pCPU for this thread. */
export function vcpuLoad(vcpu: KvmVcpu): void {
  vcpu.loaded = true;
  kvmArchVcpuLoad(vcpu, vcpu.sched.cpuOf(vcpu.task));
}

/** KVM_RUN's vcpu_put(), on its way back to the VMM. */
export function vcpuPut(vcpu: KvmVcpu): void {
  vcpu.loaded = false;
}

/** kvm_sched_in(): the thread got pCPU `cpu` back; inside KVM_RUN it runs in the host's code again. */
export function kvmSchedIn(vcpu: KvmVcpu, cpu: number): void {
  if (!vcpu.loaded) return;
  kvmArchVcpuLoad(vcpu, cpu);
  vcpu.setRunState(RUN_STATE.HOST, now());
}

/** kvm_sched_out(): the thread lost its pCPU, `preempted` if still runnable (it waits for one: RUNNABLE). */
export function kvmSchedOut(vcpu: KvmVcpu, preempted: boolean): void {
  vcpu.scheduledOut = true;
  if (vcpu.loaded && preempted) vcpu.setRunState(RUN_STATE.RUNNABLE, now());
}
