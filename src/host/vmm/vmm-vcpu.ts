import { now } from '../../actors/clock.ts';
import type { KvmVcpu } from '../kvm/kvm-vcpu.ts';
import { KVM_EXIT, type KvmExit } from '../kvm/uapi.ts';
import { kvmVcpuRun } from '../kvm/vcpu.ts';
import { RUN_STATE } from '../thread-state.ts';
import type { VmActorContext, VmActorConfig } from '../vm-actor.ts';
import { vmmHaltWait } from './userspace-halt.ts';
import type { VcpuEmulation, VcpuEmulator } from './vcpu-state-machine.ts';
import { VMM_EXIT_HANDLERS, type VmmExitContext } from './vmm-exits.ts';

/**
 * The VMM's side of one vCPU on the model (QEMU's kvm_cpu_exec, Firecracker's
 * Vcpu): set kvm_run's request, call KVM_RUN, hand its exit to the VMM's exit
 * table. A VMM that owns the wakeup (no in-kernel irqchip; the WFx proposal)
 * waits for the next interrupt itself; a workload may use idle exits for its
 * own work first (deferred-work).
 */

/** What an idle exit is used for before the vCPU waits or re-enters: the VMM's queued work (seeds/000). */
export interface IdleExitWork {
  run(vcpu: KvmVcpu): void;
}

export class VmmVcpu implements VcpuEmulator, VmmExitContext {
  constructor(
    readonly vcpu: KvmVcpu,
    protected readonly ctx: VmActorContext<VmActorConfig>,
    /** The 2023 proposal's kvm_run->userspace_exits, set before every KVM_RUN (0: none). */
    protected readonly userspaceExits: number,
    private readonly idleWork: IdleExitWork | null = null,
  ) {}

  runEmulation(): VcpuEmulation {
    const { vcpu } = this;
    vcpu.block.store('userspace_exits', this.userspaceExits);
    const exit = kvmVcpuRun(vcpu);
    vcpu.setRunState(RUN_STATE.VMM, now());
    return VMM_EXIT_HANDLERS[exit](this);
  }

  idleExit(exit: KvmExit): void {
    this.idleWork?.run(this.vcpu);
    if (exit === KVM_EXIT.WFX || (exit === KVM_EXIT.HLT && !this.vcpu.caps.irqchipInKernel)) {
      vmmHaltWait(this.vcpu);
      this.vcpu.setRunState(RUN_STATE.VMM, now());
    }
  }

  stopRequested(): boolean {
    return this.ctx.stopping();
  }

  pauseRequested(): boolean {
    return this.ctx.vmm.load('paused') !== 0;
  }

  checkFault(): void {
    this.ctx.checkFault('handling KVM_EXIT_INTR in the VMM');
  }

  /** The VM is stopped (QEMU's pause_all_vcpus): wait in the VMM, off the pCPU, until resumed. */
  waitWhilePaused(): void {
    const { vcpu } = this;
    vcpu.setRunState(RUN_STATE.VMM, now());
    vcpu.sched.release(vcpu.task);
    this.ctx.waitWhilePaused();
    vcpu.setRunState(RUN_STATE.RUNNABLE, now());
    vcpu.sched.acquire(vcpu.task);
    vcpu.setRunState(RUN_STATE.VMM, now());
  }
}
