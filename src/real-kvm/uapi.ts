/**
 * The KVM userspace API as haltlab uses it: ioctl numbers computed the way <linux/kvm.h> defines
 * them (_IO/_IOR/_IOW/_IOWR on KVMIO), capability numbers, exit reasons, and the byte layouts of
 * the structures passed to them (x86-64). Checked against the kernel headers by
 * test/real-kvm/uapi.test.ts where the headers are installed.
 */

const KVMIO = 0xae;
const IOC_NONE = 0;
const IOC_WRITE = 1;
const IOC_READ = 2;
// _IOC(dir, type, nr, size) from include/uapi/asm-generic/ioctl.h; >>> 0 keeps it unsigned.
const ioc = (dir: number, nr: number, size: number) => ((dir << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;
const io = (nr: number) => ioc(IOC_NONE, nr, 0);
const ior = (nr: number, size: number) => ioc(IOC_READ, nr, size);
const iow = (nr: number, size: number) => ioc(IOC_WRITE, nr, size);
const iowr = (nr: number, size: number) => ioc(IOC_READ | IOC_WRITE, nr, size);

/** Sizes of the structures below, bytes (x86-64). */
export const SIZE = {
  kvm_userspace_memory_region: 32,
  kvm_regs: 144,
  kvm_sregs: 312,
  kvm_segment: 24,
  kvm_cpuid2: 8,
  kvm_cpuid_entry2: 40,
  kvm_irq_routing: 8,
  kvm_irq_routing_entry: 48,
  kvm_irqfd: 32,
  kvm_msi: 32,
  kvm_enable_cap: 104,
  kvm_device_attr: 24,
  kvm_mp_state: 4,
  kvm_irqchip: 520,
  kvm_pollfd: 8,
  kvm_stats_header: 24,
  kvm_stats_desc: 16,
} as const;

export const KVM_API_VERSION = 12;

export const IOCTL = {
  // system (/dev/kvm)
  KVM_GET_API_VERSION: io(0x00),
  KVM_CREATE_VM: io(0x01),
  KVM_CHECK_EXTENSION: io(0x03),
  KVM_GET_VCPU_MMAP_SIZE: io(0x04),
  KVM_GET_SUPPORTED_CPUID: iowr(0x05, SIZE.kvm_cpuid2),
  // VM
  KVM_CREATE_VCPU: io(0x41),
  KVM_SET_USER_MEMORY_REGION: iow(0x46, SIZE.kvm_userspace_memory_region),
  KVM_CREATE_IRQCHIP: io(0x60),
  KVM_GET_IRQCHIP: iowr(0x62, SIZE.kvm_irqchip),
  // _IOR although it writes: an old mistake <linux/kvm.h> keeps for compatibility.
  KVM_SET_IRQCHIP: ior(0x63, SIZE.kvm_irqchip),
  KVM_SET_GSI_ROUTING: iow(0x6a, SIZE.kvm_irq_routing),
  KVM_IRQFD: iow(0x76, SIZE.kvm_irqfd),
  KVM_ENABLE_CAP: iow(0xa3, SIZE.kvm_enable_cap),
  KVM_SIGNAL_MSI: iow(0xa5, SIZE.kvm_msi),
  // vCPU
  KVM_RUN: io(0x80),
  KVM_GET_REGS: ior(0x81, SIZE.kvm_regs),
  KVM_SET_REGS: iow(0x82, SIZE.kvm_regs),
  KVM_GET_SREGS: ior(0x83, SIZE.kvm_sregs),
  KVM_SET_SREGS: iow(0x84, SIZE.kvm_sregs),
  KVM_SET_CPUID2: iow(0x90, SIZE.kvm_cpuid2),
  KVM_GET_MP_STATE: ior(0x98, SIZE.kvm_mp_state),
  KVM_SET_MP_STATE: iow(0x99, SIZE.kvm_mp_state),
  KVM_GET_TSC_KHZ: io(0xa3),
  KVM_SET_DEVICE_ATTR: iow(0xe1, SIZE.kvm_device_attr),
  KVM_GET_DEVICE_ATTR: iow(0xe2, SIZE.kvm_device_attr),
  // VM and vCPU
  KVM_GET_STATS_FD: io(0xce),
} as const;
export type IoctlName = keyof typeof IOCTL;

/** KVM_CHECK_EXTENSION numbers of the capabilities haltlab asks about. */
export const KVM_CAP = {
  KVM_CAP_IRQCHIP: 0,
  KVM_CAP_HLT: 1,
  KVM_CAP_USER_MEMORY: 3,
  KVM_CAP_NR_VCPUS: 9,
  KVM_CAP_MP_STATE: 14,
  KVM_CAP_IRQ_ROUTING: 25,
  KVM_CAP_IRQFD: 32,
  KVM_CAP_GET_TSC_KHZ: 61,
  KVM_CAP_MAX_VCPUS: 66,
  KVM_CAP_TSC_DEADLINE_TIMER: 72,
  KVM_CAP_SIGNAL_MSI: 77,
  KVM_CAP_VCPU_ATTRIBUTES: 127,
  KVM_CAP_X2APIC_API: 129,
  KVM_CAP_IMMEDIATE_EXIT: 136,
  KVM_CAP_X86_DISABLE_EXITS: 143,
  KVM_CAP_HALT_POLL: 182,
  KVM_CAP_BINARY_STATS_FD: 203,
} as const;
export type KvmCapName = keyof typeof KVM_CAP;

/** kvm_run->exit_reason values haltlab's vCPU loop can meet. */
export const KVM_EXIT = {
  KVM_EXIT_UNKNOWN: 0,
  KVM_EXIT_EXCEPTION: 1,
  KVM_EXIT_IO: 2,
  KVM_EXIT_HLT: 5,
  KVM_EXIT_MMIO: 6,
  KVM_EXIT_SHUTDOWN: 8,
  KVM_EXIT_FAIL_ENTRY: 9,
  KVM_EXIT_INTR: 10,
  KVM_EXIT_INTERNAL_ERROR: 17,
} as const;
export const exitReasonName = (n: number): string => Object.entries(KVM_EXIT).find(([, v]) => v === n)?.[0] ?? `exit reason ${n}`;

/** Byte offsets in struct kvm_run (the mmap'ed page of a vCPU). */
export const KVM_RUN_OFFSET = { immediate_exit: 1, exit_reason: 8, io_port: 34, io_data_offset: 40, internal_suberror: 32, hardware_exit_reason: 32 } as const;

/** struct kvm_cpuid_entry2: function u32 @0, index @4, flags @8, eax @12, ebx @16, ecx @20, edx @24. */
export const CPUID_ENTRY_FIELD = { function: 0, ecx: 20 } as const;
/** CPUID leaf 1 ECX: x2APIC (bit 21), the TSC-deadline timer (bit 24). */
export const CPUID_1_ECX_X2APIC = 1 << 21;
export const CPUID_1_ECX_TSC_DEADLINE = 1 << 24;

/** struct kvm_sregs: the segment registers (each a struct kvm_segment) by offset. */
export const SREGS_SEGMENT = { cs: 0, ds: 24, es: 48, fs: 72, gs: 96, ss: 120 } as const;
/** struct kvm_segment: base u64 @0, limit u32 @8, selector u16 @12. */
export const SEGMENT_FIELD = { base: 0, limit: 8, selector: 12 } as const;
/** struct kvm_regs: rsp @48, rip @128, rflags @136. */
export const REGS_FIELD = { rsp: 48, rip: 128, rflags: 136 } as const;

export const KVM_MP_STATE_RUNNABLE = 0;
export const KVM_IRQ_ROUTING_MSI = 2;
export const KVM_IRQCHIP_IOAPIC = 2;
export const KVM_IOAPIC_NUM_PINS = 24;
/** struct kvm_irqchip: chip_id u32 @0, the chip's state @8; in it, kvm_ioapic_state.redirtbl @24 (u64 each). */
export const IRQCHIP_IOAPIC_REDIRTBL = 8 + 24;
export const KVM_IRQFD_FLAG_RESAMPLE = 1 << 1;
/** struct kvm_irqfd: fd u32 @0, gsi u32 @4, flags u32 @8, resamplefd u32 @12. */
export const IRQFD_FIELD = { fd: 0, gsi: 4, flags: 8, resamplefd: 12 } as const;

/**
 * An IOAPIC redirection entry (82093AA §3.2.4): fixed delivery, physical destination,
 * active high, unmasked; `level` sets the trigger mode to level (bit 15), which makes KVM tell
 * the irqfd's resamplefd at each EOI.
 */
export const ioapicRedirection = (vector: number, apicId: number, level: boolean): bigint =>
  BigInt(vector) | (level ? 1n << 15n : 0n) | (BigInt(apicId) << 56n);
export const KVM_VCPU_TSC_CTRL = 0;
export const KVM_VCPU_TSC_OFFSET = 0;
/** The x2APIC's MSI address: 0xfee00000 with the destination APIC ID in bits 19:12. */
export const msiAddress = (apicId: number): number => (0xfee00000 | (apicId << 12)) >>> 0;
