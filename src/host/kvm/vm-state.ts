import { struct } from '../../actors/shared-memory.ts';
import { KVM_PARAMS, type KvmParams } from './params.ts';
import type { HaltPollCap, HaltPollParams } from './halt-poll.ts';
import { WFX_TRAP_POLICIES, type WfxTrapInput } from './wfx-trap.ts';

export const ARCH = { x86: 0, arm64: 1 } as const;
export type Arch = keyof typeof ARCH;

export interface Arm64VmConfig {
  wfi_trap_policy: WfxTrapInput['wfi_trap_policy'];
  wfe_trap_policy: WfxTrapInput['wfe_trap_policy'];
  direct_injection: boolean;
  wfx_rq_threshold: number | null;
  exit_on_wfx?: boolean;
}

/** The host's architecture and, on arm64, what the WFx trap decision reads (boot parameters, the VM's GIC, the proposal's cap). */
export function writeArch(rec: KvmVmRecord, arch: Arch, arm64: Arm64VmConfig): void {
  Atomics.store(rec.i32, I.arch, ARCH[arch]);
  Atomics.store(rec.i32, I.wfi_trap_policy, WFX_TRAP_POLICIES.indexOf(arm64.wfi_trap_policy));
  Atomics.store(rec.i32, I.wfe_trap_policy, WFX_TRAP_POLICIES.indexOf(arm64.wfe_trap_policy));
  Atomics.store(rec.i32, I.direct_injection, arm64.direct_injection ? 1 : 0);
  Atomics.store(rec.i32, I.wfx_rq_threshold, arm64.wfx_rq_threshold ?? -1);
  if (arch === 'arm64' && arm64.exit_on_wfx) enableExitOnWfx(rec);
}

export const isArm64 = (rec: KvmVmRecord): boolean => Atomics.load(rec.i32, I.arch) === ARCH.arm64;

/** KVM_ENABLE_CAP(KVM_CAP_EXIT_ON_WFX), the 2023 request's second version (seeds/001, reference §3.3). */
export function enableExitOnWfx(rec: KvmVmRecord): void {
  Atomics.store(rec.i32, I.exit_on_wfx, 1);
}
export const exitOnWfx = (rec: KvmVmRecord): boolean => Atomics.load(rec.i32, I.exit_on_wfx) !== 0;

/** The VM-wide inputs of the WFx trap decision, with the runqueue depth left for the caller. */
export function readWfxConfig(rec: KvmVmRecord): Omit<WfxTrapInput, 'nr_running'> {
  const t = Atomics.load(rec.i32, I.wfx_rq_threshold);
  return {
    wfi_trap_policy: WFX_TRAP_POLICIES[Atomics.load(rec.i32, I.wfi_trap_policy)],
    wfe_trap_policy: WFX_TRAP_POLICIES[Atomics.load(rec.i32, I.wfe_trap_policy)],
    direct_injection: Atomics.load(rec.i32, I.direct_injection) !== 0,
    rq_threshold: t < 0 ? null : t,
  };
}

/**
 * VM-wide state every vCPU reads on every halt: the kvm module parameters
 * (writable at runtime, re-read with READ_ONCE on each halt) and the VM's
 * KVM_CAP_HALT_POLL override.
 */
export const KVM_VM = struct(
  [
    'override_halt_poll_ns',
    'resample_lines',
    'created_vcpus', // kvm->created_vcpus: VM-wide caps are refused once it is non-zero
    'irqchip_in_kernel', // KVM_CREATE_IRQCHIP done: the LAPIC is emulated in KVM
    'disable_exits', // KVM_CAP_X86_DISABLE_EXITS args[0] (KVM_X86_DISABLE_EXITS_*)
    'userspace_exits_cap', // the 2023 proposal's KVM_CAP_X86_USERSPACE_EXITS is enabled
    'mwait_yield', // with it, an intercepted MWAIT without the exit bit yields (haltlab's knob, see caps.ts)
    'ioeventfd_port', // KVM_IOEVENTFD: the registered port (ioeventfd.ts)
    'ioeventfd_aio',
    'ioeventfd_queues',
    'pv_lazy_tscdeadline', // proposal: KVM_FEATURE_LAZY_TSCDEADLINE advertised
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
  [...KVM_PARAMS.map((p) => p.name), 'max_halt_poll_ns', 'exit_cost_ns'],
);
export const KVM_VM_I = KVM_VM.i32.index;
const I = KVM_VM.i32.index;
const F = KVM_VM.f64.index;

export interface KvmVmRecord {
  i32: Int32Array;
  f64: Float64Array;
}

export function writeKvmParams(rec: KvmVmRecord, params: Partial<KvmParams>): void {
  for (const [k, v] of Object.entries(params)) rec.f64[F[k as keyof KvmParams]] = v;
}

/** KVM_ENABLE_CAP(KVM_CAP_HALT_POLL, args[0] = maxNs): the VM's ceiling, regardless of the global param. */
export function enableCapHaltPoll(rec: KvmVmRecord, maxNs: number): void {
  rec.f64[F.max_halt_poll_ns] = maxNs;
  Atomics.store(rec.i32, I.override_halt_poll_ns, 1); // after the value, as KVM's smp_wmb() orders them
}

/**
 * The host's costs and hardware features, fixed when the VM is built:
 * exit_cost_ns, the busy time a VM exit and re-entry cost beyond the model's
 * own code; apicv, posted interrupts into a vCPU running guest code.
 */
export function setHostHardware(rec: KvmVmRecord, o: { exit_cost_ns: number; apicv: boolean; lapic_timer_advance: boolean }): void {
  rec.f64[F.exit_cost_ns] = o.exit_cost_ns;
  Atomics.store(rec.i32, I.apicv, o.apicv ? 1 : 0);
  Atomics.store(rec.i32, I.lapic_timer_advance, o.lapic_timer_advance ? 1 : 0);
}

export const lapicTimerAdvance = (rec: KvmVmRecord): boolean => Atomics.load(rec.i32, I.lapic_timer_advance) !== 0;

export const hostExitCostNs = (rec: KvmVmRecord): number => rec.f64[F.exit_cost_ns];
export const hostApicv = (rec: KvmVmRecord): boolean => Atomics.load(rec.i32, I.apicv) !== 0;

/** The host kernel polls the whole ceiling on every halt, with no per-vCPU window (Linux 4.0). */
export function setFixedHaltPollWindow(rec: KvmVmRecord): void {
  Atomics.store(rec.i32, I.halt_poll_fixed, 1);
}

export const fixedHaltPollWindow = (rec: KvmVmRecord): boolean => Atomics.load(rec.i32, I.halt_poll_fixed) !== 0;

/** READ_ONCE of the module params, into a reused object (this runs on every halt). */
export function readHaltPollParams(rec: KvmVmRecord, into: HaltPollParams): HaltPollParams {
  into.halt_poll_ns = rec.f64[F.halt_poll_ns];
  into.halt_poll_ns_grow = rec.f64[F.halt_poll_ns_grow];
  into.halt_poll_ns_grow_start = rec.f64[F.halt_poll_ns_grow_start];
  into.halt_poll_ns_shrink = rec.f64[F.halt_poll_ns_shrink];
  return into;
}

export function readHaltPollCap(rec: KvmVmRecord, into: HaltPollCap): HaltPollCap {
  into.override_halt_poll_ns = Atomics.load(rec.i32, I.override_halt_poll_ns) !== 0;
  into.max_halt_poll_ns = rec.f64[F.max_halt_poll_ns];
  return into;
}

/**
 * KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE on `line`: the VMM is told (through
 * the resamplefd) when the guest EOIs that line, so a device can raise it again.
 */
export function enableIrqfdResample(rec: KvmVmRecord, line: number): void {
  Atomics.or(rec.i32, I.resample_lines, 1 << line);
}

export function irqfdResampleLines(rec: KvmVmRecord): number {
  return Atomics.load(rec.i32, I.resample_lines);
}

/** kvm->last_boosted_vcpu: where kvm_vcpu_on_spin()'s round robin starts (after it). */
export function lastBoostedVcpu(rec: KvmVmRecord): number {
  return Atomics.load(rec.i32, I.last_boosted_vcpu);
}

export function setLastBoostedVcpu(rec: KvmVmRecord, idx: number): void {
  Atomics.store(rec.i32, I.last_boosted_vcpu, idx);
}

/** Proposal: KVM_FEATURE_LAZY_TSCDEADLINE is in the guest's CPUID, so MSR_KVM_LAZY_TSCDEADLINE exists (guest_pv_has). */
export function advertiseLazyTscdeadline(rec: KvmVmRecord): void {
  Atomics.store(rec.i32, I.pv_lazy_tscdeadline, 1);
}

export function lazyTscdeadlineAdvertised(rec: KvmVmRecord): boolean {
  return Atomics.load(rec.i32, I.pv_lazy_tscdeadline) !== 0;
}
