/**
 * The part of include/uapi/linux/kvm.h the model speaks: KVM_RUN's exit
 * reasons and the x86 caps' bits, with the two proposals' own (never merged).
 */

/**
 * kvm_run->exit_reason for what KVM_RUN returns to the VMM. KVM_EXIT_MWAIT is
 * the 2023 RFC's proposed code; KVM_EXIT_WFX is the 2023 arm64 request's exit,
 * which had no number upstream (haltlab picks 39).
 */
export const KVM_EXIT = { HLT: 5, SHUTDOWN: 8, INTR: 10, MWAIT: 38, WFX: 39 } as const;
export type KvmExit = (typeof KVM_EXIT)[keyof typeof KVM_EXIT];

/** KVM_CAP_X86_DISABLE_EXITS args[0]. */
export const KVM_X86_DISABLE_EXITS = { MWAIT: 1 << 0, HLT: 1 << 1, PAUSE: 1 << 2, CSTATE: 1 << 3 } as const;

/** The 2023 RFC's kvm_run->userspace_exits bits (proposed, never merged). */
export const KVM_X86_USERSPACE_EXIT = { MWAIT: 1 << 0, HLT: 1 << 1 } as const;

/** errno values the VM ioctls return, negated. */
export const EEXIST = 17;
export const EINVAL = 22;
