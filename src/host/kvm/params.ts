import type { ModuleParam } from '../../params/module-param.ts';

/**
 * KVM module parameters, declared once: the scenario schema, the CLI's flags,
 * --help and the docs all read this table. Defaults are mainline x86 on
 * kernels >= 6.11; `kernel` presets give older defaults, ARCH_PARAM_DEFAULTS arm64's.
 * Source: virt/kvm/kvm_main.c, arch/x86/include/asm/kvm_host.h,
 * Documentation/virt/kvm/halt-polling.rst (reference §1.1).
 */

/** A kvm module parameter (/sys/module/kvm/parameters). */
export type KvmParamDef = ModuleParam<'kvm'>;

export const KVM_PARAMS = [
  {
    module: 'kvm',
    name: 'halt_poll_ns',
    default: 200_000,
    unit: 'ns',
    doc: 'global ceiling on a vCPU’s halt-polling window (0 disables polling)',
    source: 'KVM_HALT_POLL_NS_DEFAULT, arch/x86/include/asm/kvm_host.h',
  },
  {
    module: 'kvm',
    name: 'halt_poll_ns_grow',
    default: 2,
    unit: 'factor',
    doc: 'multiplier applied when the window grows (0: never grow)',
    source: 'virt/kvm/kvm_main.c',
  },
  {
    module: 'kvm',
    name: 'halt_poll_ns_grow_start',
    default: 10_000,
    unit: 'ns',
    doc: 'first non-zero window when growing from 0, and the floor below which shrinking gives 0',
    source: 'virt/kvm/kvm_main.c',
  },
  {
    module: 'kvm',
    name: 'halt_poll_ns_shrink',
    default: 2,
    unit: 'divisor',
    doc: 'divisor applied when the window shrinks (0: reset to 0); 0 before Linux 6.11',
    source: 'commit aeb1b22a3ac8 (6.11)',
  },
] as const satisfies readonly KvmParamDef[];

export type KvmParamName = (typeof KVM_PARAMS)[number]['name'];
export type KvmParams = Record<KvmParamName, number>;

/** Kernel-version presets: the module defaults a host of that kernel boots with. */
export const KERNEL_PRESETS = {
  '6.11': {},
  '6.10': { halt_poll_ns_shrink: 0 },
  // Linux 4.0 (the 2015 RFC, seeds/002, as merged, commit f7819512): every halt polls the whole
  // halt_poll_ns; the grow/shrink parameters did not exist yet, and the window does not adapt
  // (FIXED_WINDOW_KERNELS). halt_poll_ns defaulted to 0, as the RFC's halt_poll did: polling was
  // off unless the administrator set it (a non-zero default came in a later release).
  '4.0': { halt_poll_ns: 0 },
} as const satisfies Record<string, Partial<KvmParams>>;
export type KernelPreset = keyof typeof KERNEL_PRESETS;

/**
 * Kernels whose halt polling has no per-vCPU window: before "KVM: dynamic
 * halt-polling" (Wanpeng Li, 2015), kvm_vcpu_block() polled for halt_poll_ns
 * on every halt. halt_attempted_poll did not exist then; haltlab counts it anyway.
 */
export const FIXED_WINDOW_KERNELS: ReadonlySet<KernelPreset> = new Set(['4.0']);
export const DEFAULT_KERNEL: KernelPreset = '6.11';

/**
 * KVM_HALT_POLL_NS_DEFAULT is per architecture (arch/<arch>/include/asm/kvm_host.h,
 * reference §1.1): 200000 on x86, 500000 on arm64.
 */
export const ARCH_PARAM_DEFAULTS = {
  x86: {},
  arm64: { halt_poll_ns: 500_000 },
} as const satisfies Record<string, Partial<KvmParams>>;

export function kvmParamDefaults(kernel: KernelPreset = DEFAULT_KERNEL, arch: keyof typeof ARCH_PARAM_DEFAULTS = 'x86'): KvmParams {
  const params = Object.fromEntries(KVM_PARAMS.map((p) => [p.name, p.default])) as KvmParams;
  return { ...params, ...ARCH_PARAM_DEFAULTS[arch], ...KERNEL_PRESETS[kernel] };
}
