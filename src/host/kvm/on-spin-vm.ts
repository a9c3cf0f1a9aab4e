import type { OnSpinVm } from './directed-yield.ts';
import type { KvmVcpu } from './kvm-vcpu.ts';

/**
 * kvm_vcpu_on_spin()'s view of the VM from a vCPU thread: the other vCPUs'
 * shared words (kvm_for_each_vcpu) and their tasks in the host scheduler. The
 * algorithm itself (directed-yield.ts) sees only this interface; the tests
 * give it arrays.
 */
export function sharedOnSpinVm(vcpu: KvmVcpu): OnSpinVm {
  const { sched, kvm, vcpus } = vcpu;
  const me = vcpu.task;
  const flag = (idx: number, f: 'in_spin_loop' | 'dy_eligible') => vcpus[idx].block.load(f) !== 0;
  const set = (idx: number, f: 'in_spin_loop' | 'dy_eligible', b: boolean) => vcpus[idx].block.store(f, b ? 1 : 0);
  return {
    nrVcpus: vcpus.length,
    getLastBoosted: () => kvm.load('last_boosted_vcpu'),
    setLastBoosted: (idx) => kvm.store('last_boosted_vcpu', idx),
    ready: (idx) => sched.isQueued(idx), // runnable without a pCPU: preempted, or woken and waiting
    isBlocking: (idx) => vcpus[idx].stats.load('blocking') !== 0,
    dyRunnable: (idx) => vcpus[idx].block.load('irr') !== 0, // KVM_REQ_EVENT: an interrupt is pending
    preempted: (idx) => sched.wasPreempted(idx),
    // kvm_arch_dy_has_pending_interrupt(): APICv active and a posted interrupt waiting (PID.ON)
    dyHasPendingInterrupt: (idx) => vcpus[idx].block.load('apicv') !== 0 && vcpus[idx].block.load('pi_on') !== 0,
    preemptedInKernel: () => true, // the guest is all kernel code: CPL 0
    inSpinLoop: (idx) => flag(idx, 'in_spin_loop'),
    dyEligible: (idx) => flag(idx, 'dy_eligible'),
    setInSpinLoop: (idx, b) => set(idx, 'in_spin_loop', b),
    setDyEligible: (idx, b) => set(idx, 'dy_eligible', b),
    // The pCPU changes hands inside: the scheduler's hooks mark this vCPU RUNNABLE, then load it again.
    yieldTo: (idx) => sched.yieldTo(me, idx),
  };
}
