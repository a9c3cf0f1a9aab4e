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
      // kvm_set_msr_common(): #GP unless guest_pv_has(KVM_FEATURE_POLL_CONTROL), and for any bit but
      // bit 0 ("only enable bit supported"). The model's guest kernel has no #GP handler: the run fails.
      if (vcpu.kvm.load('pv_poll_control') === 0) throw new KvmError('msr-not-advertised', vcpu.id, '#GP: MSR_KVM_POLL_CONTROL written but KVM_FEATURE_POLL_CONTROL is not advertised');
      if (data !== 0 && data !== 1) throw new KvmError('general-protection', vcpu.id, `#GP: MSR_KVM_POLL_CONTROL written with reserved bits set (${data}); only bit 0 exists`);
      vcpu.block.store('poll_control', data);
      break;
    case MSR_KVM_LAZY_TSCDEADLINE:
      // KVM would inject #GP (guest_pv_has fails); the model's guest kernel checks CPUID first.
      if (vcpu.kvm.load('pv_lazy_tscdeadline') === 0) throw new KvmError('msr-not-advertised', vcpu.id, 'MSR_KVM_LAZY_TSCDEADLINE written but KVM_FEATURE_LAZY_TSCDEADLINE is not advertised');
      kvmLazyTscdeadlineSetMsr(vcpu.block, data);
      break;
  }
}
