import type { GuestExit } from '../../guest/interpreter.ts';
import type { KvmVcpu } from './kvm-vcpu.ts';
import type { KvmExit } from './uapi.ts';
import type { Arch } from './vm-state.ts';

/**
 * What differs between KVM's architectures, as one small interface (the
 * kvm_arch_* hooks): the per-vCPU half of each lives in x86/ and arm64/, and
 * the VM's architecture picks one when a vCPU is created (kvm-vcpu.ts).
 * Generic code (vcpu.ts, halt.ts, native-idle.ts) calls only this.
 */

/**
 * One row of an architecture's exit table (kvm_vmx_exit_handlers[],
 * arm_exit_handlers[]): the guest exits the hardware reports under this
 * reason, and the handler. The reason's statistic is `exit_<REASON>`. A
 * handler returns 0 to go back into the guest, or what KVM_RUN returns.
 */
export interface ExitRow<A extends KvmVcpuArch> {
  readonly on: readonly GuestExit[];
  handle(vcpu: KvmVcpu<A>, exit: GuestExit, at: number): KvmExit | 0;
}

/**
 * An architecture's exit table: one row per exit reason, by the reason's name, for exactly the
 * reasons its statistics list (stats.ts): a reason without a row, or a row without a reason,
 * does not compile.
 */
export type ExitTable<A extends KvmVcpuArch, R extends string = string> = Readonly<Record<R, ExitRow<A>>>;

/** A guest exit as this vCPU's hardware reports it: the statistic counted, the code traced, the handler. */
export interface ExitEntry {
  /** Word of `exit_<REASON>` in the vCPU's statistics. */
  readonly stat: number;
  /** The guest exit the trace records (the reason's, when the hardware reports it as another). */
  readonly traced: GuestExit;
  handle(vcpu: KvmVcpu, exit: GuestExit, at: number): KvmExit | 0;
}

export interface KvmVcpuArch {
  readonly name: Arch;
  /** Exit entries by guest exit; undefined: the architecture has no such exit (an unhandled-exit error). */
  readonly exits: readonly (ExitEntry | undefined)[];
  /** kvm_arch_vcpu_load(): the vCPU is loaded on pCPU `cpu` (KVM_RUN's vcpu_load, or a sched-in inside it). */
  load(cpu: number): void;
  /** The PAUSE-loop-exiting control, asked at each guest PAUSE (x86 VMX; never on arm64). */
  pauseLoopExit(cycles: number, at: number): boolean;
  /** A VM entry: the PAUSE-loop detector starts afresh. */
  enter(): void;
  /** Whether WFE (`wfe`) or WFI traps, as the last load set HCR_EL2 (arm64; an x86 guest has neither). */
  wfxTrapped(wfe: boolean): boolean;
  /** KVM_X86_DISABLE_EXITS_HLT / _MWAIT: the instruction runs in guest mode (x86; false on arm64). */
  readonly hltInGuest: boolean;
  readonly mwaitInGuest: boolean;
  /**
   * An interrupt reaches a vCPU idling in guest mode without an exit: arm64 with GICv4 direct
   * injection. (x86's posted interrupts reach it through the descriptor's ON bit instead.)
   */
  readonly directInjection: boolean;
  /**
   * Whether a pending interrupt makes the vCPU runnable only when the guest can take it now: x86
   * (kvm_vcpu_has_events asks kvm_arch_interrupt_allowed, RFLAGS.IF), not arm64
   * (kvm_arch_vcpu_runnable -> kvm_vcpu_has_pending_irqs ignores PSTATE.I: WFI wakes on a masked IRQ).
   */
  readonly wakeNeedsUnmasked: boolean;
}

/** Build a vCPU's exit entries from its architecture's table. */
export function exitEntries<A extends KvmVcpuArch>(vcpu: KvmVcpu<A>, table: ExitTable<A>): (ExitEntry | undefined)[] {
  const entries: (ExitEntry | undefined)[] = [];
  for (const [reason, row] of Object.entries(table)) {
    const stat = vcpu.stats.I[`exit_${reason}` as keyof typeof vcpu.stats.I];
    if (stat === undefined) throw new Error(`exit reason ${reason} has no statistic: is it in its architecture's table?`);
    for (const exit of row.on) entries[exit] = { stat, traced: exit, handle: row.handle as ExitEntry['handle'] };
  }
  return entries;
}
