import type { Assembler } from '../assembler.ts';
import { KVM_MSR_ENABLED, MSR_KVM_LAZY_TSCDEADLINE } from '../isa.ts';

/**
 * The guest kernel's LAPIC clockevent in TSC-deadline mode
 * (arch/x86/kernel/apic/apic.c): what hrtimers reach through
 * clockevents_program_event(). Its set_next_event is chosen once, at boot,
 * by setup_APIC_timer():
 * - `lapic-deadline`: lapic_next_deadline(), a write of MSR_IA32_TSC_DEADLINE,
 *   so every call is an MSR_WRITE exit;
 * - `kvm-lazy-tscdeadline`: kvm_lapic_next_deadline() from the lazy tscdeadline
 *   PV proposal (RFC v3, Wang Jianchao, July 2023; reference §2.8; never merged),
 *   chosen when the host advertises KVM_FEATURE_LAZY_TSCDEADLINE.
 *
 * The comparison runs here, in the guest kernel, as in the patch: the host
 * only ever sees the writes that exit. It is the interpreter's
 * `set_next_event` instruction rather than guest ISA code because the ISA has
 * no loads or branches, and because the workload's code must be the same with
 * and without the proposal: in Linux, hrtimer code calls the clockevent and the
 * driver picked at boot decides whether the write exits.
 */

export type Clockevent = 'lapic-deadline' | 'kvm-lazy-tscdeadline';

/** The guest's per-CPU struct kvm_lazy_tscdeadline, in guest memory the host maps: word indexes into `f64`. */
export interface LazyTscdeadlinePage {
  readonly f64: Float64Array;
  /** Written only by the host: the deadline armed in a host timer (0: none). */
  readonly armed: number;
  /** Written only by the guest: the latest deadline its clockevent asked for. */
  readonly pending: number;
}

/**
 * kvm_lapic_next_deadline(): publish `tsc` in pending, then write the MSR (an
 * exit) only if nothing is armed or `tsc` is earlier than what is armed. A
 * later deadline needs no exit: when the armed one expires the host re-arms
 * at pending. Returns whether to write the MSR.
 * Ordering: the host reads pending only while this vCPU is outside guest mode
 * (its own exit, or asleep), which the vCPU's atomics order after this store
 * (the patch needs weak_wrmsr_fence() for the same reason).
 */
export function kvmLapicNextDeadline(page: LazyTscdeadlinePage, tsc: number): boolean {
  page.f64[page.pending] = tsc;
  const armed = page.f64[page.armed];
  return armed === 0 || tsc < armed;
}

/** The guest kernel's clockevent, as the interpreter runs it. */
export interface ClockeventCpu {
  readonly kind: Clockevent;
  readonly page: LazyTscdeadlinePage | null;
  /** Guest-side counts, reported with the results. */
  readonly counts: { set_next_event: number; pending_only: number };
}

export function newClockeventCpu(kind: Clockevent, page: LazyTscdeadlinePage | undefined): ClockeventCpu {
  if (kind === 'kvm-lazy-tscdeadline' && !page) throw new Error('the kvm-lazy-tscdeadline clockevent needs its struct kvm_lazy_tscdeadline page');
  return { kind, page: kind === 'kvm-lazy-tscdeadline' ? page! : null, counts: { set_next_event: 0, pending_only: 0 } };
}

/** The guest kernel's choice, from the PV features the host advertised in CPUID. */
export const clockeventOf = (k: { pv_lazy_tscdeadline?: boolean } | undefined): Clockevent =>
  k?.pv_lazy_tscdeadline ? 'kvm-lazy-tscdeadline' : 'lapic-deadline';

/**
 * Boot, on each CPU: with the PV feature, kvm_guest_cpu_init() registers the
 * page (MSR_KVM_LAZY_TSCDEADLINE = its address | KVM_MSR_ENABLED; the address
 * is implicit here: the page is the vCPU's own). Clobbers r7.
 */
export function setupLapicTimer(a: Assembler, clockevent: Clockevent): Assembler {
  if (clockevent === 'kvm-lazy-tscdeadline') a.movi(7, KVM_MSR_ENABLED).wrmsr(MSR_KVM_LAZY_TSCDEADLINE, 7);
  return a;
}
