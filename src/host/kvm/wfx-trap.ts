/**
 * arm64: whether WFI and WFE trap to EL2 (HCR_EL2.TWI / TWE), decided at every
 * vcpu_load, i.e. each time the vCPU thread is scheduled onto a pCPU
 * (kvm_arch_vcpu_load -> kvm_vcpu_should_clear_twi/twe, arch/arm64/kvm/arm.c;
 * reference §3.2). Pure: the caller passes the runqueue depth it sees.
 */

/** kvm-arm.wfi_trap_policy / kvm-arm.wfe_trap_policy; `default` = the parameter is absent (KVM_WFX_NOTRAP_SINGLE_TASK). */
export const WFX_TRAP_POLICIES = ['default', 'trap', 'notrap'] as const;
export type WfxTrapPolicy = (typeof WFX_TRAP_POLICIES)[number];

export interface WfxTrapInput {
  /** nr_running of the pCPU the vCPU is being loaded on (the vCPU itself included). */
  nr_running: number;
  wfi_trap_policy: WfxTrapPolicy;
  wfe_trap_policy: WfxTrapPolicy;
  /** The vCPU uses GICv4 direct injection (vLPIs or vSGIs). */
  direct_injection: boolean;
  /**
   * The 2024 proposal (KVM_CAP_ARM_WFX_TRAP_RUNQUEUE_DEPTH, v2, not merged):
   * trap WFx iff nr_running > threshold; null when the VM does not use it.
   */
  rq_threshold: number | null;
}

export interface WfxTraps {
  twi: boolean;
  twe: boolean;
}

/**
 * Precedence: an explicit trap/notrap parameter wins (it is the host
 * administrator's global override); else the proposal's threshold when the VM
 * enabled it; else mainline's single-task rule: WFE untrapped iff
 * single_task_running(), WFI untrapped iff that and direct injection.
 */
export function wfxTraps(i: WfxTrapInput): WfxTraps {
  const single = i.nr_running <= 1; // single_task_running()
  const byDefault = (isWfi: boolean): boolean => {
    if (i.rq_threshold !== null) return i.nr_running > i.rq_threshold;
    return !(single && (!isWfi || i.direct_injection));
  };
  const decide = (policy: WfxTrapPolicy, isWfi: boolean): boolean => (policy === 'trap' ? true : policy === 'notrap' ? false : byDefault(isWfi));
  return { twi: decide(i.wfi_trap_policy, true), twe: decide(i.wfe_trap_policy, false) };
}
