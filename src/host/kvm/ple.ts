import { UINT_MAX, type ModuleParam } from '../../params/module-param.ts';

/**
 * PAUSE-loop exiting (VMX), reference §2.5: kvm_intel's module parameters and
 * the per-vCPU window arithmetic of __grow_ple_window / __shrink_ple_window
 * (arch/x86/kvm/x86.h) as grow_ple_window / shrink_ple_window
 * (arch/x86/kvm/vmx/vmx.c) apply it. Pure functions; the vCPU thread calls them.
 *
 * Units: ple_gap and ple_window are TSC cycles (SDM 25.1.3). The guest's TSC
 * runs at 1 GHz on the shared clock, so a window of 4096 cycles is 4096 ns of
 * spinning. The gap is the exception: see PauseLoopDetector.
 */

/** A kvm_intel module parameter (/sys/module/kvm_intel/parameters). */
export type KvmIntelParamDef = ModuleParam<'kvm_intel'>;


/** /sys/module/kvm_intel/parameters/ple_*: 0444, so read once when the VM is created. */
export const KVM_INTEL_PLE_PARAMS = [
  {
    module: 'kvm_intel',
    name: 'ple_gap',
    default: 128,
    unit: 'cycles',
    doc: 'longest gap between two PAUSEs that still counts as one spin loop; 0 turns PAUSE-loop exiting off (pause_in_guest)',
    source: 'KVM_DEFAULT_PLE_GAP, arch/x86/kvm/vmx/vmx.c',
  },
  {
    module: 'kvm_intel',
    name: 'ple_window',
    default: 4096,
    unit: 'cycles',
    doc: 'base PLE window: cycles a spin loop may last before it exits (PAUSE_INSTRUCTION); the floor of the per-vCPU window',
    source: 'KVM_VMX_DEFAULT_PLE_WINDOW, arch/x86/kvm/vmx/vmx.c',
  },
  {
    module: 'kvm_intel',
    name: 'ple_window_grow',
    default: 2,
    unit: 'factor',
    doc: 'on each PLE exit the window is multiplied by this (added if >= ple_window; 0: reset to ple_window)',
    source: 'KVM_DEFAULT_PLE_WINDOW_GROW, arch/x86/kvm/x86.h',
  },
  {
    module: 'kvm_intel',
    name: 'ple_window_shrink',
    default: 0,
    unit: 'divisor',
    doc: 'when a scheduled-out vCPU is loaded again the window is divided by this (subtracted if >= ple_window; 0: reset to ple_window)',
    source: 'KVM_DEFAULT_PLE_WINDOW_SHRINK, arch/x86/kvm/x86.h',
  },
  {
    module: 'kvm_intel',
    name: 'ple_window_max',
    default: UINT_MAX,
    unit: 'cycles',
    doc: 'ceiling of the per-vCPU window',
    source: 'KVM_VMX_DEFAULT_PLE_WINDOW_MAX, arch/x86/kvm/vmx/vmx.c',
  },
] as const satisfies readonly KvmIntelParamDef[];

export type PleParamName = (typeof KVM_INTEL_PLE_PARAMS)[number]['name'];
export type PleParams = Record<PleParamName, number>;

export const PLE_DEFAULTS: PleParams = Object.fromEntries(KVM_INTEL_PLE_PARAMS.map((p) => [p.name, p.default])) as PleParams;

/**
 * kvm->arch.pause_in_guest: PAUSE runs without PLE. vmx_vm_init() sets it when
 * ple_gap is 0; KVM_CAP_X86_DISABLE_EXITS with KVM_X86_DISABLE_EXITS_PAUSE
 * (bit 2, caps.ts) sets it for the VM (`disableExitsPause`).
 */
export function kvmPauseInGuest(params: Pick<PleParams, 'ple_gap'>, disableExitsPause = false): boolean {
  return params.ple_gap === 0 || disableExitsPause;
}

/** __grow_ple_window(): modifier < 1 gives base; < base multiplies, else adds; then min(·, max). No floor. */
export function growPleWindow(val: number, p: PleParams): number {
  const base = p.ple_window;
  const modifier = p.ple_window_grow;
  if (modifier < 1) return base;
  const ret = modifier < base ? val * modifier : val + modifier; // u64 in KVM: no overflow before the clamp
  return Math.min(ret, p.ple_window_max);
}

/**
 * __shrink_ple_window(val, ple_window, ple_window_shrink, ple_window): modifier
 * < 1 gives base; < base divides, else subtracts (unsigned int: it wraps if
 * val < modifier, as in KVM); then max(·, base).
 */
export function shrinkPleWindow(val: number, p: PleParams): number {
  const base = p.ple_window;
  const modifier = p.ple_window_shrink;
  if (modifier < 1) return base;
  const ret = modifier < base ? Math.trunc(val / modifier) : (val - modifier) >>> 0;
  return Math.max(ret, base);
}

/**
 * The CPU's PLE detector for one vCPU in guest mode (SDM 25.1.3): a PAUSE more
 * than ple_gap after the previous one (or the first after VM entry) starts a
 * loop; a PAUSE more than ple_window after the loop's first exits.
 *
 * Mapping: the window is wall time on the 1 GHz TSC (cycles = ns). The gap is
 * counted in guest instructions retired since the previous PAUSE (one cycle
 * each, plus a `compute`'s ns), not wall time: the interpreter spends tens of
 * ns of JavaScript per guest instruction, so 128 ns of wall time would split a
 * three-instruction spin loop that takes ~10 cycles on hardware.
 */
export class PauseLoopDetector {
  private loopStart = 0;
  private lastPause = Number.NEGATIVE_INFINITY;

  /** VM entry: the next PAUSE is the first of a loop. */
  enter(): void {
    this.lastPause = Number.NEGATIVE_INFINITY;
  }

  /**
   * A PAUSE at guest-cycle count `cycles` and time `at`, with the vCPU's
   * current window: true when it causes a PLE exit. ple_gap = 0 never exits.
   */
  pause(cycles: number, at: number, gap: number, windowNs: number): boolean {
    if (gap === 0) return false;
    if (cycles - this.lastPause > gap) this.loopStart = at;
    this.lastPause = cycles;
    return at - this.loopStart > windowNs;
  }
}
