import { describe, expect, it } from 'vitest';
import { adjustLapicTimerAdvance, LAPIC_TIMER_ADVANCE_NS_INIT } from '../../src/host/kvm/timer-advance.ts';

// adjust_lapic_timer_advance() (arch/x86/kvm/lapic.c, reference §2.6); timer-advance.e2e.test.ts runs it on real threads.

describe('adjust_lapic_timer_advance', () => {
  it.each([
    [1000, 50, 1000], // a tiny fluctuation: no change
    [1000, -50, 1000],
    [1000, 20_000, 1000], // a large random spike: no change
    [1000, 800, 1100], // late by 800: +800/8
    [1000, -800, 900], // early by 800: -800/8
    [4900, 8000, LAPIC_TIMER_ADVANCE_NS_INIT], // past 5000: back to the initial value
    [500, -8000, LAPIC_TIMER_ADVANCE_NS_INIT], // below 0 wraps (u32): reset
    [1000, 103, 1012], // integer steps
    [1000, 100, 1012], // the adjustment window is [100, 10000]: both ends adjust
    [1000, -100, 988],
    [1000, 10_000, 2250],
    [1000, 99, 1000],
    [1000, 10_001, 1000],
    [100, -800, 0], // exactly 0 is kept (only a wrap below 0 resets)
    [4900, 800, 5000], // exactly the maximum is kept (only above it resets)
  ])('advance %i, delta %i -> %i', (advance, delta, next) => {
    expect(adjustLapicTimerAdvance(advance, delta)).toBe(next);
  });
});
