/**
 * KVM's adaptive halt-polling window as pure functions: the arithmetic of
 * kvm_vcpu_halt(), grow_halt_poll_ns() and shrink_halt_poll_ns()
 * (virt/kvm/kvm_main.c), in the order reference §1.3 gives the steps. The
 * thread-side halt path (halt.ts) calls these; tests check them against the
 * reference's worked example.
 */

export interface HaltPollParams {
  halt_poll_ns: number;
  halt_poll_ns_grow: number;
  halt_poll_ns_grow_start: number;
  halt_poll_ns_shrink: number;
}

export interface HaltPollCap {
  override_halt_poll_ns: boolean;
  max_halt_poll_ns: number;
}

/** kvm_vcpu_max_halt_poll_ns(): the VM's KVM_CAP_HALT_POLL value if set, else the global param. */
export function kvmVcpuMaxHaltPollNs(params: HaltPollParams, cap: HaltPollCap): number {
  return cap.override_halt_poll_ns ? cap.max_halt_poll_ns : params.halt_poll_ns;
}

/** Step 2: clamp at entry; growing never clamps, the next halt does (commit 97b6847ac10b). */
export function clampHaltPollNs(cur: number, max: number): number {
  return cur > max ? max : cur;
}

/** grow_halt_poll_ns(): grow 0 means no change; from below grow_start, start at grow_start. */
export function growHaltPollNs(cur: number, params: HaltPollParams): number {
  const grow = params.halt_poll_ns_grow;
  if (!grow) return cur;
  const val = cur * grow;
  return val < params.halt_poll_ns_grow_start ? params.halt_poll_ns_grow_start : val;
}

/** shrink_halt_poll_ns(): shrink 0 resets to 0; below grow_start gives 0. */
export function shrinkHaltPollNs(cur: number, params: HaltPollParams): number {
  const shrink = params.halt_poll_ns_shrink;
  const val = shrink === 0 ? 0 : Math.trunc(cur / shrink);
  return val < params.halt_poll_ns_grow_start ? 0 : val;
}

export type HaltPollAdjustment = 'shrink' | 'reset' | 'sweet-spot' | 'grow' | 'none';

export interface HaltPollAdjustInput {
  halt_poll_ns: number;
  halt_ns: number;
  max: number;
  valid_wakeup: boolean;
}

/** Step 7 of kvm_vcpu_halt(), only when polling is allowed: the first matching case wins. */
export function adjustHaltPollNs(
  input: HaltPollAdjustInput,
  params: HaltPollParams,
): { halt_poll_ns: number; adjustment: HaltPollAdjustment } {
  const { halt_poll_ns: cur, halt_ns, max, valid_wakeup } = input;
  // An invalid wakeup (s390's CONFIG_HAVE_KVM_INVALID_WAKEUPS) always shrinks.
  if (!valid_wakeup) return { halt_poll_ns: shrinkHaltPollNs(cur, params), adjustment: 'shrink' };
  // Polling disabled for this VM or globally: reset.
  if (max === 0) return { halt_poll_ns: 0, adjustment: 'reset' };
  // The sweet spot: the wake came within the window.
  if (halt_ns <= cur) return { halt_poll_ns: cur, adjustment: 'sweet-spot' };
  // Blocked longer than polling could ever cover: shrink.
  if (cur !== 0 && halt_ns > max) return { halt_poll_ns: shrinkHaltPollNs(cur, params), adjustment: 'shrink' };
  // Strict < on both: a block of exactly max does not grow.
  if (cur < max && halt_ns < max) return { halt_poll_ns: growHaltPollNs(cur, params), adjustment: 'grow' };
  return { halt_poll_ns: cur, adjustment: 'none' };
}

export const HALT_POLL_HIST_COUNT = 32;

/** kvm_stats_log_hist_update(): bucket min(fls64(v), 31); 0 lands in bucket 0. */
export function log2HistBucket(valueNs: number): number {
  if (valueNs < 1) return 0;
  const fls = Math.floor(Math.log2(valueNs)) + 1;
  // Math.log2 can round up just below a power of two; correct by checking the bound.
  const exact = 2 ** (fls - 1) <= valueNs ? fls : fls - 1;
  return Math.min(exact, HALT_POLL_HIST_COUNT - 1);
}
