import { exitEntries, type ExitEntry, type KvmVcpuArch } from '../arch.ts';
import type { KvmVcpu } from '../kvm-vcpu.ts';
import { readWfxConfig } from '../vm-state.ts';
import { wfxTraps } from '../wfx-trap.ts';
import { ARM64_EXIT_HANDLERS } from './exits.ts';

/**
 * vcpu->arch on arm64: HCR_EL2.TWI / TWE as the last vcpu_load set them (the
 * WFx trap decision, reference §3.2), the VM's GICv4 direct injection, the
 * 2023 proposal's KVM_CAP_EXIT_ON_WFX, and the exit table. No PAUSE-loop
 * exiting (cpu_relax is YIELD, not trapped); no native HLT or MWAIT.
 */
export class Arm64Vcpu implements KvmVcpuArch {
  readonly name = 'arm64';
  readonly exits: readonly (ExitEntry | undefined)[];
  readonly hltInGuest = false;
  readonly mwaitInGuest = false;
  /** The vCPUs use GICv4 direct injection, so an interrupt reaches a vCPU in an untrapped WFI without an exit. */
  readonly directInjection: boolean;
  readonly wakeNeedsUnmasked = false; // PSTATE.I does not matter
  /** PROPOSAL: KVM_CAP_EXIT_ON_WFX (arm64, 2023). */
  readonly exitOnWfx: boolean;
  private twi = true;
  private twe = true;

  constructor(private readonly vcpu: KvmVcpu) {
    this.directInjection = readWfxConfig(vcpu.kvm).direct_injection;
    this.exitOnWfx = vcpu.kvm.load('exit_on_wfx') !== 0;
    this.exits = exitEntries(vcpu as KvmVcpu<Arm64Vcpu>, ARM64_EXIT_HANDLERS);
  }

  /**
   * kvm_arch_vcpu_load(): where the WFx traps are decided for as long as the
   * vCPU stays on this pCPU, from its runqueue depth now.
   */
  load(cpu: number): void {
    const { vcpu } = this;
    const traps = wfxTraps({ ...readWfxConfig(vcpu.kvm), nr_running: cpu < 0 ? 1 : vcpu.sched.nrRunning(cpu) });
    // The proposal forces WFx traps while its cap is enabled, so that a WFI can exit at all.
    this.twi = traps.twi || this.exitOnWfx;
    this.twe = traps.twe || this.exitOnWfx;
    if (traps.twi) vcpu.stats.add('vcpu_loads_twi', 1);
    if (traps.twe) vcpu.stats.add('vcpu_loads_twe', 1);
  }

  pauseLoopExit(): boolean {
    return false;
  }

  enter(): void {}

  wfxTrapped(wfe: boolean): boolean {
    return wfe ? this.twe : this.twi;
  }
}
