import type { KvmVcpu } from '../kvm/kvm-vcpu.ts';
import { KVM_EXIT, type KvmExit } from '../kvm/uapi.ts';
import type { VcpuEmulation } from './vcpu-state-machine.ts';

/**
 * What the VMM does with each exit KVM_RUN returns to it (QEMU's
 * kvm_cpu_exec switch, Firecracker's run_emulation), one table for every VMM
 * loop: the vCPU thread's and the simulator's. What an idle exit is then used
 * for is the loop's own (`idleExit`): queued work and a userspace halt, or a
 * jump of virtual time.
 */

export interface VmmExitContext {
  readonly vcpu: KvmVcpu;
  /** KVM_EXIT_HLT, _MWAIT or _WFX reached the VMM: the guest is idle as far as KVM is concerned. */
  idleExit(exit: KvmExit): void;
}

export const VMM_EXIT_HANDLERS: Readonly<Record<KvmExit, (x: VmmExitContext) => VcpuEmulation>> = {
  [KVM_EXIT.HLT]: (x) => {
    x.vcpu.stats.add('kvm_exit_hlt', 1);
    x.idleExit(KVM_EXIT.HLT);
    return 'handled';
  },
  [KVM_EXIT.MWAIT]: (x) => {
    x.vcpu.stats.add('kvm_exit_mwait', 1);
    x.idleExit(KVM_EXIT.MWAIT);
    return 'handled';
  },
  // The WFI is done as far as the guest knows: the VMM must wait for the next event itself.
  [KVM_EXIT.WFX]: (x) => {
    x.vcpu.stats.add('kvm_exit_wfx', 1);
    x.idleExit(KVM_EXIT.WFX);
    return 'handled';
  },
  [KVM_EXIT.INTR]: (x) => {
    x.vcpu.block.store('signal_pending', 0); // the signal has been taken
    return 'interrupted';
  },
  [KVM_EXIT.SHUTDOWN]: () => 'stopped',
};
