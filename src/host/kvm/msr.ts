import { MSR_IA32_TSC_DEADLINE, MSR_KVM_LAZY_TSCDEADLINE, MSR_KVM_POLL_CONTROL } from '../../guest/isa.ts';
import { KvmError } from './errors.ts';
import type { KvmVcpu } from './kvm-vcpu.ts';
import { writeTscDeadline } from './lapic-timer.ts';
import { kvmLazyTscdeadlineSetMsr } from './lazy-tscdeadline.ts';

/**
 * kvm_set_msr_common() for the MSRs the guest writes (x86 WRMSR; on arm64 the
 * deadline write stands for a trapped timer system register, the same path).
 */
export function kvmSetMsr(vcpu: KvmVcpu, msr: number, data: number, at: number): void {
  switch (msr) {
    case MSR_IA32_TSC_DEADLINE:
      writeTscDeadline(vcpu, data, at);
      break;
    case MSR_KVM_POLL_CONTROL:
      vcpu.block.store('poll_control', data & 1);
      break;
    case MSR_KVM_LAZY_TSCDEADLINE:
      // KVM would inject #GP (guest_pv_has fails); the model's guest kernel checks CPUID first.
      if (vcpu.kvm.load('pv_lazy_tscdeadline') === 0) throw new KvmError('msr-not-advertised', vcpu.id, 'MSR_KVM_LAZY_TSCDEADLINE written but KVM_FEATURE_LAZY_TSCDEADLINE is not advertised');
      kvmLazyTscdeadlineSetMsr(vcpu.block, data);
      break;
  }
}
