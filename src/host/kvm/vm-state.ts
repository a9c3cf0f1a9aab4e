import { region, struct, type RecordOf } from '../../actors/shared-memory.ts';
import { KVM_PARAMS, type KvmParams } from './params.ts';
import type { HaltPollCap, HaltPollParams } from './halt-poll.ts';
import { WFX_TRAP_POLICIES, type WfxTrapInput } from './wfx-trap.ts';

/**
 * struct kvm, the VM: what every vCPU reads of it. The kvm module parameters
 * (writable at runtime, re-read with READ_ONCE on each halt), the VM's caps
 * (KVM_CAP_HALT_POLL's override, the irqchip, disabled exits, the
 * proposals'), the host hardware it runs on, and the architecture. Words a
 * vCPU reads once at creation are read through the record directly
 * (`kvm.load('apicv')`); what has a protocol (an ordering, a reused object on
 * every halt) has a function here.
 */

export const ARCH = { x86: 0, arm64: 1 } as const;
export type Arch = keyof typeof ARCH;

const KVM_VM = struct(
  [
    'override_halt_poll_ns',
    'resample_lines', // KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE: one bit per line
    'created_vcpus', // kvm->created_vcpus: VM-wide caps are refused once it is non-zero
    'irqchip_in_kernel', // KVM_CREATE_IRQCHIP done: the LAPIC is emulated in KVM
    'disable_exits', // KVM_CAP_X86_DISABLE_EXITS args[0] (KVM_X86_DISABLE_EXITS_*)
    'userspace_exits_cap', // the 2023 proposal's KVM_CAP_X86_USERSPACE_EXITS is enabled
    'mwait_yield', // with it, an intercepted MWAIT without the exit bit yields (haltlab's knob, see caps.ts)
    'ioeventfd_port', // KVM_IOEVENTFD: the registered port (ioeventfd.ts)
    'ioeventfd_aio',
    'ioeventfd_queues',
    'pv_lazy_tscdeadline', // proposal: KVM_FEATURE_LAZY_TSCDEADLINE advertised
    'pv_poll_control', // KVM_FEATURE_POLL_CONTROL in the guest's CPUID (MSR_KVM_POLL_CONTROL exists)
    'halt_poll_fixed', // a kernel without the adaptive window (FIXED_WINDOW_KERNELS): poll halt_poll_ns every halt
    'apicv', // posted interrupts (kvm_intel enable_apicv / kvm_amd avic)
    'lapic_timer_advance', // kvm.lapic_timer_advance: the adaptive LAPIC timer advance is on
    'exit_on_wfx', // PROPOSAL (2023, arm64): KVM_CAP_EXIT_ON_WFX enabled: WFx forced to trap, a WFI that would block returns KVM_EXIT_WFX
    'arch', // ARCH.*: which KVM this is
    'wfi_trap_policy', // arm64 kvm-arm.wfi_trap_policy, as an index in WFX_TRAP_POLICIES
    'wfe_trap_policy',
    'direct_injection', // arm64: the vCPUs use GICv4 direct injection (vLPI/vSGI)
    'wfx_rq_threshold', // the 2024 proposal's per-VM threshold, -1 when not enabled
    'last_boosted_vcpu', // kvm->last_boosted_vcpu: kvm_vcpu_on_spin()'s round robin
  ],
  [
    ...KVM_PARAMS.map((p) => p.name),
    'max_halt_poll_ns', // kvm->max_halt_poll_ns, KVM_CAP_HALT_POLL's value
    'exit_cost_ns', // the host's VM exit + entry cost, paid as busy time
  ],
);
/** The VM: one record. */
export const KVM = region('kvm', KVM_VM);
export type KvmRecord = RecordOf<typeof KVM>;

export interface Arm64VmConfig {
  wfi_trap_policy: WfxTrapInput['wfi_trap_policy'];
  wfe_trap_policy: WfxTrapInput['wfe_trap_policy'];
  direct_injection: boolean;
  wfx_rq_threshold: number | null;
  exit_on_wfx?: boolean;
}

/** The host's architecture and, on arm64, what the WFx trap decision reads (boot parameters, the VM's GIC, the proposal's cap). */
export function writeArch(rec: KvmRecord, arch: Arch, arm64: Arm64VmConfig): void {
  rec.store('arch', ARCH[arch]);
  rec.store('wfi_trap_policy', WFX_TRAP_POLICIES.indexOf(arm64.wfi_trap_policy));
  rec.store('wfe_trap_policy', WFX_TRAP_POLICIES.indexOf(arm64.wfe_trap_policy));
  rec.store('direct_injection', arm64.direct_injection ? 1 : 0);
  rec.store('wfx_rq_threshold', arm64.wfx_rq_threshold ?? -1);
  // KVM_ENABLE_CAP(KVM_CAP_EXIT_ON_WFX), the 2023 request's second version (seeds/001, reference §3.3).
  if (arch === 'arm64' && arm64.exit_on_wfx) rec.store('exit_on_wfx', 1);
}

export const archOf = (rec: KvmRecord): Arch => (rec.load('arch') === ARCH.arm64 ? 'arm64' : 'x86');

/** The VM-wide inputs of the WFx trap decision, with the runqueue depth left for the caller. */
export function readWfxConfig(rec: KvmRecord): Omit<WfxTrapInput, 'nr_running'> {
  const t = rec.load('wfx_rq_threshold');
  return {
    wfi_trap_policy: WFX_TRAP_POLICIES[rec.load('wfi_trap_policy')],
    wfe_trap_policy: WFX_TRAP_POLICIES[rec.load('wfe_trap_policy')],
    direct_injection: rec.load('direct_injection') !== 0,
    rq_threshold: t < 0 ? null : t,
  };
}

export function writeKvmParams(rec: KvmRecord, params: Partial<KvmParams>): void {
  for (const [k, v] of Object.entries(params)) rec.set(k as keyof KvmParams, v);
}

/** KVM_ENABLE_CAP(KVM_CAP_HALT_POLL, args[0] = maxNs): the VM's ceiling, regardless of the global param. */
export function enableCapHaltPoll(rec: KvmRecord, maxNs: number): void {
  rec.set('max_halt_poll_ns', maxNs);
  rec.store('override_halt_poll_ns', 1); // after the value, as KVM's smp_wmb() orders them
}

/**
 * The host's costs and hardware features, fixed when the VM is built:
 * exit_cost_ns, the busy time a VM exit and re-entry cost beyond the model's
 * own code; apicv, posted interrupts into a vCPU running guest code.
 */
export function setHostHardware(rec: KvmRecord, o: { exit_cost_ns: number; apicv: boolean; lapic_timer_advance: boolean }): void {
  rec.set('exit_cost_ns', o.exit_cost_ns);
  rec.store('apicv', o.apicv ? 1 : 0);
  rec.store('lapic_timer_advance', o.lapic_timer_advance ? 1 : 0);
}

/** The host kernel polls the whole ceiling on every halt, with no per-vCPU window (Linux 4.0). */
export function setFixedHaltPollWindow(rec: KvmRecord): void {
  rec.store('halt_poll_fixed', 1);
}

export const fixedHaltPollWindow = (rec: KvmRecord): boolean => rec.load('halt_poll_fixed') !== 0;

/** READ_ONCE of the module params, into a reused object (this runs on every halt). */
export function readHaltPollParams(rec: KvmRecord, into: HaltPollParams): HaltPollParams {
  const f = rec.f64;
  into.halt_poll_ns = f[rec.F.halt_poll_ns];
  into.halt_poll_ns_grow = f[rec.F.halt_poll_ns_grow];
  into.halt_poll_ns_grow_start = f[rec.F.halt_poll_ns_grow_start];
  into.halt_poll_ns_shrink = f[rec.F.halt_poll_ns_shrink];
  return into;
}

export function readHaltPollCap(rec: KvmRecord, into: HaltPollCap): HaltPollCap {
  into.override_halt_poll_ns = Atomics.load(rec.i32, rec.I.override_halt_poll_ns) !== 0;
  into.max_halt_poll_ns = rec.f64[rec.F.max_halt_poll_ns];
  return into;
}

/**
 * KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE on `line`: the VMM is told (through
 * the resamplefd) when the guest EOIs that line, so a device can raise it again.
 */
export function enableIrqfdResample(rec: KvmRecord, line: number): void {
  rec.or('resample_lines', 1 << line);
}

/**
 * KVM_FEATURE_POLL_CONTROL in the guest's CPUID (QEMU's kvm-poll-control), so MSR_KVM_POLL_CONTROL
 * exists: the VMM of every x86 scenario advertises it, as cpuidle-haltpoll needs it.
 */
export function advertisePollControl(rec: KvmRecord): void {
  rec.store('pv_poll_control', 1);
}

/** Proposal: KVM_FEATURE_LAZY_TSCDEADLINE is in the guest's CPUID, so MSR_KVM_LAZY_TSCDEADLINE exists (guest_pv_has). */
export function advertiseLazyTscdeadline(rec: KvmRecord): void {
  rec.store('pv_lazy_tscdeadline', 1);
}
