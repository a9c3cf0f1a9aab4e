import type { GuestExit } from '../../guest/interpreter.ts';
import { KvmError } from './errors.ts';
import type { KvmVcpu } from './kvm-vcpu.ts';
import { kvmSetMsr } from './msr.ts';

/**
 * Exit handlers both architectures' tables use under their own reason names: the same KVM code
 * behind x86's MSR_WRITE / IO_INSTRUCTION and arm64's ESR_ELx_EC_SYS64 / ESR_ELx_EC_DABT_LOW.
 */

/** kvm_set_msr_common() for a guest WRMSR (arm64: a trapped timer system register). */
export function handleMsrWrite(vcpu: KvmVcpu, _exit: GuestExit, at: number): 0 {
  kvmSetMsr(vcpu, vcpu.guest.exitMsr, vcpu.guest.exitValue, at);
  return 0;
}

/**
 * A guest OUT (arm64: an MMIO write) handled in KVM by the ioeventfd that claims its port. Without
 * one it would be KVM_EXIT_IO (KVM_EXIT_MMIO) to the VMM, which no modelled device needs.
 */
export function handleIoOut(vcpu: KvmVcpu): 0 {
  vcpu.stats.add('io_exits', 1);
  const { exitPort, exitValue } = vcpu.guest;
  if (!vcpu.ioBus?.(exitPort, exitValue)) throw new KvmError('no-io-device', vcpu.id, `OUT to port 0x${exitPort.toString(16)}, which no device claims`);
  return 0;
}
