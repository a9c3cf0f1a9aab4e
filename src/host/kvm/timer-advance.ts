/**
 * The LAPIC timer's adaptive advance (arch/x86/kvm/lapic.c, reference §2.6):
 * KVM arms the deadline timer timer_advance_ns early, and when the interrupt is
 * about to enter the guest (__kvm_wait_lapic_expire) it measures how early or
 * late that was, tunes the advance, and busy-waits what is left, so that the
 * guest never sees its timer before the deadline. The guest TSC runs at 1 GHz
 * in haltlab, so cycles and ns are the same numbers.
 */

export const LAPIC_TIMER_ADVANCE_NS_INIT = 1000;
export const LAPIC_TIMER_ADVANCE_NS_MAX = 5000;
/** Deltas outside [MIN, MAX] cycles are tiny fluctuations or large random spikes: no adjustment. */
export const LAPIC_TIMER_ADVANCE_ADJUST_MIN = 100;
export const LAPIC_TIMER_ADVANCE_ADJUST_MAX = 10000;
export const LAPIC_TIMER_ADVANCE_ADJUST_STEP = 8;

/** adjust_lapic_timer_advance(): `delta` = guest TSC at entry − the deadline (negative: early). */
export function adjustLapicTimerAdvance(advanceNs: number, delta: number): number {
  const abs = Math.abs(delta);
  if (abs > LAPIC_TIMER_ADVANCE_ADJUST_MAX || abs < LAPIC_TIMER_ADVANCE_ADJUST_MIN) return advanceNs;
  const step = Math.floor(abs / LAPIC_TIMER_ADVANCE_ADJUST_STEP);
  const next = delta < 0 ? advanceNs - step : advanceNs + step;
  // timer_advance_ns is a u32: below 0 it wraps past the maximum, and both reset to the initial value.
  return next < 0 || next > LAPIC_TIMER_ADVANCE_NS_MAX ? LAPIC_TIMER_ADVANCE_NS_INIT : next;
}
