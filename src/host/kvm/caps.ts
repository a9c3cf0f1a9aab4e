import { EEXIST, EINVAL, KVM_X86_DISABLE_EXITS } from './uapi.ts';
import type { KvmRecord } from './vm-state.ts';

/**
 * VM ioctls that must come before the vCPUs exist: KVM_CREATE_IRQCHIP,
 * KVM_ENABLE_CAP(KVM_CAP_X86_DISABLE_EXITS), and the 2023 proposal's
 * KVM_CAP_X86_USERSPACE_EXITS; then KVM_CREATE_VCPU. Like the ioctls they
 * return 0 or a negative errno (arch/x86/kvm/x86.c kvm_vm_ioctl_enable_cap,
 * Documentation/virt/kvm/api.rst; reference §2.2, §2.4).
 */

/**
 * What KVM_CHECK_EXTENSION(KVM_CAP_X86_DISABLE_EXITS) reports on the modelled
 * host. KVM offers CSTATE too; haltlab models no C-state MSRs, so that bit
 * would change nothing and is not offered (a bit outside this mask is -EINVAL,
 * as KVM treats a bit it does not offer). PAUSE turns PAUSE-loop exiting off
 * for the VM (kvm->arch.pause_in_guest, ple.ts kvmPauseInGuest).
 */
export const KVM_X86_DISABLE_EXITS_ALLOWED = KVM_X86_DISABLE_EXITS.MWAIT | KVM_X86_DISABLE_EXITS.HLT | KVM_X86_DISABLE_EXITS.PAUSE;

/** KVM_CREATE_IRQCHIP: the LAPIC (and its HLT handling) lives in the kernel. */
export function kvmCreateIrqchip(rec: KvmRecord): number {
  if (rec.load('irqchip_in_kernel')) return -EEXIST;
  if (rec.load('created_vcpus')) return -EINVAL;
  rec.store('irqchip_in_kernel', 1);
  return 0;
}

/** KVM_ENABLE_CAP(KVM_CAP_X86_DISABLE_EXITS, args[0] = mask). Refused once a vCPU exists. */
export function kvmEnableCapDisableExits(rec: KvmRecord, mask: number): number {
  if (mask & ~KVM_X86_DISABLE_EXITS_ALLOWED) return -EINVAL;
  if (rec.load('created_vcpus')) return -EINVAL; // kvm->created_vcpus, under kvm->lock
  rec.or('disable_exits', mask);
  return 0;
}

/**
 * The 2023 RFC's KVM_CAP_X86_USERSPACE_EXITS (proposed number 230): the VMM may
 * then set kvm_run->userspace_exits on each KVM_RUN. `mwait_yield` is haltlab's
 * split of the RFC's "else yield on MWAIT", so the yield can be measured alone.
 * The RFC says nothing on ordering; haltlab refuses it after vCPUs exist, like
 * the other VM caps here.
 */
export function kvmEnableCapUserspaceExits(rec: KvmRecord, opts: { mwait_yield: boolean }): number {
  if (rec.load('created_vcpus')) return -EINVAL;
  rec.store('mwait_yield', opts.mwait_yield ? 1 : 0);
  rec.store('userspace_exits_cap', 1);
  return 0;
}

/** KVM_CREATE_VCPU: returns the new vCPU's index. */
export function kvmCreateVcpu(rec: KvmRecord): number {
  return rec.add('created_vcpus', 1);
}

/** What a vCPU reads once at creation: these are fixed before any vCPU exists. */
export interface VmExitConfig {
  irqchipInKernel: boolean;
  hltInGuest: boolean;
  mwaitInGuest: boolean;
  /** KVM_X86_DISABLE_EXITS_PAUSE: kvm_pause_in_guest(), no PAUSE-loop exiting. */
  pauseInGuest: boolean;
  userspaceExitsCap: boolean;
  mwaitYield: boolean;
}

export function readVmExitConfig(rec: KvmRecord): VmExitConfig {
  const mask = rec.load('disable_exits');
  return {
    irqchipInKernel: rec.load('irqchip_in_kernel') !== 0,
    hltInGuest: (mask & KVM_X86_DISABLE_EXITS.HLT) !== 0,
    mwaitInGuest: (mask & KVM_X86_DISABLE_EXITS.MWAIT) !== 0,
    pauseInGuest: (mask & KVM_X86_DISABLE_EXITS.PAUSE) !== 0,
    userspaceExitsCap: rec.load('userspace_exits_cap') !== 0,
    mwaitYield: rec.load('mwait_yield') !== 0,
  };
}
