import { now } from '../../../actors/clock.ts';
import { GUEST_EXIT } from '../../../guest/interpreter.ts';
import { RUN_STATE } from '../../thread-state.ts';
import type { ExitTable } from '../arch.ts';
import type { ARM64_EXIT_REASONS } from '../stats.ts';
import { kvmVcpuHalt } from '../halt.ts';
import type { KvmVcpu } from '../kvm-vcpu.ts';
import { handleIoOut, handleMsrWrite } from '../shared-exits.ts';
import { KVM_EXIT, type KvmExit } from '../uapi.ts';
import type { Arm64Vcpu } from './arm64.ts';

/**
 * arm_exit_handlers[] (arch/arm64/kvm/handle_exit.c), by exception class as
 * arm64's kvm_exit trace names the exits, plus IRQ for an exit taken for a
 * physical interrupt (a kick's IPI, the vtimer). The deadline-register write
 * stands for a trapped timer system register (SYS64), the port write for an
 * MMIO doorbell (a data abort, DABT_LOW). arm64 has no interrupt window; the
 * model's own is kept under its x86 name. MONITOR/MWAIT, HLT and PAUSE have no
 * row: a guest that executes them has the wrong architecture. Each reason's
 * name is its statistic (`exit_<REASON>`) and its key in the results.
 */
export const ARM64_EXIT_HANDLERS = {
  ESR_ELx_EC_WFx: {
    on: [GUEST_EXIT.WFI, GUEST_EXIT.WFE],
    handle: (vcpu, exit, at) => (exit === GUEST_EXIT.WFI ? kvmVcpuWfi(vcpu, at) : kvmHandleWfe(vcpu)),
  },
  ESR_ELx_EC_SYS64: { on: [GUEST_EXIT.MSR_WRITE], handle: handleMsrWrite },
  ESR_ELx_EC_DABT_LOW: { on: [GUEST_EXIT.IO_INSTRUCTION], handle: handleIoOut },
  IRQ: {
    on: [GUEST_EXIT.EXTERNAL_INTERRUPT, GUEST_EXIT.PREEMPTION_TIMER],
    handle(vcpu, exit, at) {
      // The vtimer's interrupt is the vCPU's own timer firing; any other is a kick's IPI.
      if (exit === GUEST_EXIT.PREEMPTION_TIMER) vcpu.fireOwnTimer(at);
      else vcpu.stats.add('irq_exits', 1);
      return 0;
    },
  },
  // Counted under x86's name, as the model always has: arm64 KVM has no such exit of its own.
  INTERRUPT_WINDOW: { on: [GUEST_EXIT.INTERRUPT_WINDOW], handle: () => 0 },
} as const satisfies ExitTable<Arm64Vcpu, (typeof ARM64_EXIT_REASONS)[number] | 'INTERRUPT_WINDOW'>;

/**
 * kvm_handle_wfx -> kvm_vcpu_wfi -> kvm_vcpu_halt(): poll, then block, in the
 * kernel. PROPOSAL (2023): with KVM_CAP_EXIT_ON_WFX, return to userspace
 * instead, but only when the WFI would block ("whenever you would otherwise
 * yield", seeds/001); with an event there it completes.
 */
function kvmVcpuWfi(vcpu: KvmVcpu<Arm64Vcpu>, at: number): KvmExit | 0 {
  vcpu.stats.add('wfi_exit_stat', 1);
  if (vcpu.arch.exitOnWfx) return vcpu.checkBlock(at) ? 0 : KVM_EXIT.WFX;
  kvmVcpuHalt(vcpu);
  vcpu.setRunState(RUN_STATE.HOST, now());
  return 0;
}

/**
 * kvm_handle_wfx -> kvm_vcpu_on_spin(): never blocks. x86's PLE path has the
 * directed yield (handle_pause); here it is a plain yield of the pCPU to
 * whoever waits for it. TODO: the directed yield, as arm64's kvm_vcpu_on_spin() does.
 */
function kvmHandleWfe(vcpu: KvmVcpu<Arm64Vcpu>): 0 {
  vcpu.stats.add('wfe_exit_stat', 1);
  vcpu.sched.yield(vcpu.task);
  return 0;
}
