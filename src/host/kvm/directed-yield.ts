/**
 * kvm_vcpu_on_spin() (virt/kvm/kvm_main.c, reference §2.5): a vCPU caught
 * spinning (a PLE exit) boosts another vCPU of the VM with yield_to(), hoping
 * it holds the lock being spun on. KVM cannot see the lock, so it goes round
 * robin from kvm->last_boosted_vcpu. Written over an interface so that tests
 * drive it with a small array of vCPU states and the vCPU thread with shared
 * memory and the host scheduler.
 */

export interface OnSpinVm {
  readonly nrVcpus: number;
  /** kvm->last_boosted_vcpu (READ_ONCE / WRITE_ONCE). */
  getLastBoosted(): number;
  setLastBoosted(idx: number): void;
  /** vcpu->ready: preempted while runnable, or woken, and not yet running again. */
  ready(idx: number): boolean;
  /** kvm_vcpu_is_blocking(): inside kvm_vcpu_block(). */
  isBlocking(idx: number): boolean;
  /** vcpu_dy_runnable(): a blocked vCPU with something to do (a pending event). */
  dyRunnable(idx: number): boolean;
  /** vcpu->preempted: scheduled out while still runnable. */
  preempted(idx: number): boolean;
  /** kvm_arch_dy_has_pending_interrupt(): a posted interrupt waits (APICv). */
  dyHasPendingInterrupt(idx: number): boolean;
  /** kvm_arch_vcpu_preempted_in_kernel(): guest CPL was 0 when it was preempted. */
  preemptedInKernel(idx: number): boolean;
  inSpinLoop(idx: number): boolean;
  dyEligible(idx: number): boolean;
  setInSpinLoop(idx: number, v: boolean): void;
  setDyEligible(idx: number, v: boolean): void;
  /** kvm_vcpu_yield_to() -> yield_to(): > 0 yielded, 0 not possible now, < 0 pointless (-ESRCH). */
  yieldTo(idx: number): number;
}

export interface OnSpinOutcome {
  /** vCPUs yield_to() was tried on, in order. */
  tried: number[];
  /** The vCPU yielded to, or -1. */
  boosted: number;
  /** yield_to() calls that returned < 0 (each consumes one of the 3 tries). */
  failed: number;
}

/** The number of failed (negative) yields after which kvm_vcpu_on_spin() gives up. */
export const ON_SPIN_TRIES = 3;

/**
 * kvm_vcpu_eligible_for_directed_yield(): a vCPU that is itself in a spin loop
 * is eligible every other time it is considered (dy_eligible toggles), so two
 * spinners do not keep boosting each other.
 */
export function eligibleForDirectedYield(vm: OnSpinVm, idx: number): boolean {
  const inLoop = vm.inSpinLoop(idx);
  const eligible = !inLoop || vm.dyEligible(idx);
  if (inLoop) vm.setDyEligible(idx, !vm.dyEligible(idx));
  return eligible;
}

/**
 * kvm_vcpu_on_spin(me, yield_to_kernel_mode). last_boosted_vcpu records the
 * vCPU index yielded to, as kernels before 6.11 did and as the code intends;
 * the single-loop rewrite of 6.11 stores the loop counter `i` instead, a bug
 * Wanpeng Li's 2025 one-line fix (`i` -> `idx`) corrects.
 */
export function kvmVcpuOnSpin(vm: OnSpinVm, me: number, yieldToKernelMode = true): OnSpinOutcome {
  const out: OnSpinOutcome = { tried: [], boosted: -1, failed: 0 };
  const n = vm.nrVcpus;
  if (n < 2) return out;
  let tries = ON_SPIN_TRIES;
  vm.setInSpinLoop(me, true);
  const start = vm.getLastBoosted() + 1;
  for (let i = 0; i < n; i++) {
    const idx = (start + i) % n;
    if (idx === me) continue;
    if (!vm.ready(idx)) continue;
    if (vm.isBlocking(idx) && !vm.dyRunnable(idx)) continue;
    // A preempted vCPU with a pending interrupt counts as in-kernel: the spinner may be waiting for its IPI.
    if (vm.preempted(idx) && yieldToKernelMode && !vm.dyHasPendingInterrupt(idx) && !vm.preemptedInKernel(idx)) continue;
    if (!eligibleForDirectedYield(vm, idx)) continue;
    out.tried.push(idx);
    const yielded = vm.yieldTo(idx);
    if (yielded > 0) {
      vm.setLastBoosted(idx);
      out.boosted = idx;
      break;
    }
    if (yielded < 0) {
      out.failed++;
      if (--tries === 0) break;
    }
  }
  vm.setInSpinLoop(me, false);
  // Not eligible during its next spin loop.
  vm.setDyEligible(me, false);
  return out;
}
