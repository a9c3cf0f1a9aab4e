import { fields, region, type RecordOf } from '../../actors/shared-memory.ts';
import { HALT_POLL_HIST_COUNT } from './halt-poll.ts';

/**
 * Per-vCPU statistics, declared once as KVM declares them (the descriptor
 * table behind debugfs and KVM_GET_STATS_FD). The shared-memory layout, the
 * JSON keys and the terminal table are derived from this table: adding a stat
 * is one line. Names are KVM's; `arch` says where KVM defines it.
 * Sources: include/linux/kvm_host.h KVM_GENERIC_VCPU_STATS, arch/x86/kvm/x86.c
 * kvm_vcpu_stats_desc (reference §1.4).
 */

export type StatKind = 'counter' | 'time_ns' | 'log2_hist' | 'instant';

export interface StatDef {
  readonly name: string;
  readonly kind: StatKind;
  readonly arch: 'generic' | 'x86' | 'arm64' | 'model';
  readonly doc: string;
}

export const VCPU_STATS = [
  { name: 'halt_successful_poll', kind: 'counter', arch: 'generic', doc: 'halts that polled and never scheduled out' },
  { name: 'halt_attempted_poll', kind: 'counter', arch: 'generic', doc: 'halts that polled, whatever the outcome' },
  { name: 'halt_poll_invalid', kind: 'counter', arch: 'generic', doc: 'successful polls ended by an invalid wakeup (s390 only in KVM)' },
  { name: 'halt_wakeup', kind: 'counter', arch: 'generic', doc: 'wakeups of a task waiting in kvm_vcpu_block()' },
  { name: 'halt_poll_success_ns', kind: 'time_ns', arch: 'generic', doc: 'time polled in successful polls' },
  { name: 'halt_poll_fail_ns', kind: 'time_ns', arch: 'generic', doc: 'time polled in failed polls (CPU burnt for nothing)' },
  { name: 'halt_wait_ns', kind: 'time_ns', arch: 'generic', doc: 'time scheduled out in kvm_vcpu_block()' },
  { name: 'halt_poll_success_hist', kind: 'log2_hist', arch: 'generic', doc: 'successful poll durations, log2 ns buckets' },
  { name: 'halt_poll_fail_hist', kind: 'log2_hist', arch: 'generic', doc: 'failed poll durations, log2 ns buckets' },
  { name: 'halt_wait_hist', kind: 'log2_hist', arch: 'generic', doc: 'wait durations, log2 ns buckets' },
  { name: 'blocking', kind: 'instant', arch: 'generic', doc: '1 while inside kvm_vcpu_block()' },
  { name: 'exits', kind: 'counter', arch: 'x86', doc: 'VM exits of any reason' },
  { name: 'halt_exits', kind: 'counter', arch: 'x86', doc: 'guest HLTs emulated (__kvm_emulate_halt)' },
  { name: 'irq_exits', kind: 'counter', arch: 'x86', doc: 'exits for an external interrupt (a kick IPI)' },
  { name: 'signal_exits', kind: 'counter', arch: 'x86', doc: 'KVM_RUN returns for a pending signal (KVM_EXIT_INTR)' },
  { name: 'irq_injections', kind: 'counter', arch: 'x86', doc: 'interrupts injected into the guest' },
  { name: 'io_exits', kind: 'counter', arch: 'x86', doc: 'exits for an I/O port access (here: handled in the kernel by an ioeventfd)' },
  { name: 'wfi_exit_stat', kind: 'counter', arch: 'arm64', doc: 'trapped guest WFIs (kvm_handle_wfx): each goes through kvm_vcpu_halt()' },
  { name: 'wfe_exit_stat', kind: 'counter', arch: 'arm64', doc: 'trapped guest WFEs (kvm_handle_wfx): each yields, never blocks' },
] as const satisfies readonly StatDef[];

/**
 * VM-exit reasons as `perf kvm stat` names them: x86 (VMX basic exit reasons),
 * then arm64 as its kvm_exit trace prints them (the exception class of a trap,
 * ESR_ELx_EC_*, or IRQ for an exit taken for a physical interrupt).
 */
export const X86_EXIT_REASONS = ['EXTERNAL_INTERRUPT', 'HLT', 'MSR_WRITE', 'PREEMPTION_TIMER', 'INTERRUPT_WINDOW', 'IO_INSTRUCTION', 'MWAIT_INSTRUCTION', 'MONITOR_INSTRUCTION', 'PAUSE_INSTRUCTION'] as const;
export const ARM64_EXIT_REASONS = ['ESR_ELx_EC_WFx', 'ESR_ELx_EC_SYS64', 'ESR_ELx_EC_DABT_LOW', 'IRQ'] as const;
export const EXIT_REASONS = [...X86_EXIT_REASONS, ...ARM64_EXIT_REASONS] as const;
export type ExitReason = (typeof EXIT_REASONS)[number];

/** haltlab's own per-vCPU counters: facts of the model that KVM has no stat for. */
export const MODEL_COUNTERS = [
  { name: 'kvm_exit_wfx', doc: 'PROPOSAL (arm64, 2023): KVM_RUN returns with KVM_EXIT_WFX (a WFI that would have blocked), counted by the VMM' },
  { name: 'halt_calls', doc: 'kvm_vcpu_halt() calls: each halt_exit, and each KVM_RUN that finds the vCPU still halted (after KVM_EXIT_INTR)' },
  { name: 'tsc_deadline_writes', doc: 'guest writes of MSR_IA32_TSC_DEADLINE' },
  { name: 'timer_fired_in_guest', doc: 'deadline timer expiries taken on the vCPU’s own pCPU (preemption timer, or hrtimer while polling)' },
  { name: 'timer_fired_by_host', doc: 'deadline timer expiries fired by the host’s hrtimer while the vCPU slept' },
  { name: 'timer_fired_at_write', doc: 'deadlines already past when written: pending at once' },
  { name: 'timer_interrupts_injected', doc: 'irq_injections of the LAPIC timer line' },
  { name: 'device_interrupts_injected', doc: 'irq_injections of device lines' },
  { name: 'vcpu_loads', doc: 'kvm_arch_vcpu_load: the vCPU thread (re)acquired a pCPU (arm64: the WFx trap decision is taken)' },
  { name: 'vcpu_loads_twi', doc: 'arm64: vcpu_loads that left WFI trapped (HCR_EL2.TWI set)' },
  { name: 'vcpu_loads_twe', doc: 'arm64: vcpu_loads that left WFE trapped (HCR_EL2.TWE set)' },
  { name: 'wfi_native', doc: 'arm64: WFIs executed untrapped (waited in guest mode, pCPU kept)' },
  { name: 'wfe_native', doc: 'arm64: WFEs executed untrapped (a short wait in guest mode, pCPU kept)' },
  { name: 'lazy_tscdeadline_rearms', doc: 'proposal: expiries of the armed deadline that re-armed at the guest’s later pending one, injecting nothing' },
  { name: 'posted_interrupts', doc: 'interrupts delivered to a vCPU idling in guest mode without an exit (posted-interrupt-like; not irq_injections)' },
  { name: 'hlt_in_guest', doc: 'HLTs executed natively (KVM_X86_DISABLE_EXITS_HLT): no exit, no halt statistics' },
  { name: 'mwait_in_guest', doc: 'MWAITs executed natively (KVM_X86_DISABLE_EXITS_MWAIT)' },
  { name: 'kvm_exit_hlt', doc: 'KVM_RUN returns with KVM_EXIT_HLT, counted by the VMM (userspace irqchip, or the 2023 proposal)' },
  { name: 'kvm_exit_mwait', doc: 'KVM_RUN returns with KVM_EXIT_MWAIT, counted by the VMM (the 2023 proposal)' },
  { name: 'mwait_yields', doc: 'yield() calls in the NOP emulation of an intercepted MWAIT (the 2023 proposal)' },
  // kvm_vcpu_on_spin() counts nothing in KVM: x86's directed_yield_attempted/_successful count the
  // PV KVM_HC_SCHED_YIELD hypercall (kvm_sched_yield), which the guest here never makes.
  { name: 'on_spin_yield_attempted', doc: 'yield_to() calls made by kvm_vcpu_on_spin() after a PLE exit' },
  { name: 'on_spin_yield_successful', doc: 'of those, yields that gave the pCPU to the candidate (yield_to() > 0)' },
  { name: 'on_spin_yield_failed', doc: 'of those, yields that were pointless (yield_to() < 0, -ESRCH): each uses one of the 3 tries' },
] as const;

export type VcpuStatName = (typeof VCPU_STATS)[number]['name'];
type OfKind<K extends StatKind> = Extract<(typeof VCPU_STATS)[number], { kind: K }>['name'];
export type CounterStat = OfKind<'counter'> | OfKind<'instant'>;
export type TimeStat = OfKind<'time_ns'>;
export type HistStat = OfKind<'log2_hist'>;
export type ModelCounter = (typeof MODEL_COUNTERS)[number]['name'];

// The shared-memory record of one vCPU's statistics, derived from the tables above.
const i32Specs = [
  ...VCPU_STATS.filter((s) => s.kind === 'counter' || s.kind === 'instant').map((s) => s.name),
  ...VCPU_STATS.filter((s) => s.kind === 'log2_hist').map((s) => [s.name, HALT_POLL_HIST_COUNT] as const),
  ...EXIT_REASONS.map((r) => `exit_${r}` as const),
  ...MODEL_COUNTERS.map((c) => c.name),
];
const f64Specs = VCPU_STATS.filter((s) => s.kind === 'time_ns').map((s) => s.name);

const VCPU_STATS_STRUCT = { i32: fields(i32Specs, 4), f64: fields(f64Specs, 8) };
/** One record per vCPU: its statistics, by KVM's names (vcpu->stat). */
export const VCPU_STAT = region('vcpu_stats', VCPU_STATS_STRUCT);
export type VcpuStatRecord = RecordOf<typeof VCPU_STAT>;

export interface VcpuStatsSnapshot {
  stats: Record<VcpuStatName, number | number[]>;
  exit_reasons: Record<ExitReason, number>;
  model: Record<ModelCounter, number>;
}

/** Read one vCPU's statistics out of shared memory into the JSON shape (KVM's names as keys). */
export function readVcpuStats(rec: VcpuStatRecord): VcpuStatsSnapshot {
  const stats = {} as Record<VcpuStatName, number | number[]>;
  for (const s of VCPU_STATS) {
    if (s.kind === 'time_ns') stats[s.name] = rec.get(s.name);
    else if (s.kind === 'log2_hist') stats[s.name] = Array.from(rec.i32.subarray(rec.I[s.name], rec.I[s.name] + HALT_POLL_HIST_COUNT));
    else stats[s.name] = rec.load(s.name);
  }
  const exit_reasons = Object.fromEntries(EXIT_REASONS.map((r) => [r, rec.load(`exit_${r}`)])) as Record<ExitReason, number>;
  const model = Object.fromEntries(MODEL_COUNTERS.map((c) => [c.name, rec.load(c.name)])) as Record<ModelCounter, number>;
  return { stats, exit_reasons, model };
}
