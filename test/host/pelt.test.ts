import { describe, expect, it } from 'vitest';
import { PELT_PERIOD_NS, PELT_Y, peltAdvance } from '../../src/host/sched/pelt.ts';

// The PELT-like signal: y^32 = 1/2 per 1024 µs period, a running task's util rises towards 1 and an
// idle one's decays towards 0, both with a 32-period (~32.8 ms) half-life.

const HALF_LIFE_NS = 32 * PELT_PERIOD_NS;

describe('PELT utilisation', () => {
  it('has y^32 = 1/2', () => expect(Math.pow(PELT_Y, 32)).toBeCloseTo(0.5, 12));

  it('halves an idle task every half-life', () => {
    expect(peltAdvance(1, false, HALF_LIFE_NS)).toBeCloseTo(0.5, 12);
    expect(peltAdvance(1, false, 2 * HALF_LIFE_NS)).toBeCloseTo(0.25, 12);
    expect(peltAdvance(0.8, false, 3 * HALF_LIFE_NS)).toBeCloseTo(0.1, 12);
  });

  it('brings a running task half-way to 1 every half-life', () => {
    expect(peltAdvance(0, true, HALF_LIFE_NS)).toBeCloseTo(0.5, 12);
    expect(peltAdvance(0, true, 2 * HALF_LIFE_NS)).toBeCloseTo(0.75, 12);
    expect(peltAdvance(0.5, true, HALF_LIFE_NS)).toBeCloseTo(0.75, 12);
  });

  it('one period of running from 0 gives 1 - y', () => expect(peltAdvance(0, true, PELT_PERIOD_NS)).toBeCloseTo(1 - PELT_Y, 12));

  it('composes: two steps in the same state are one step', () => {
    for (const running of [true, false]) {
      const two = peltAdvance(peltAdvance(0.3, running, 1_700_000), running, 5_300_000);
      expect(two).toBeCloseTo(peltAdvance(0.3, running, 7_000_000), 12);
    }
  });

  it('converges to the running share of a periodic task', () => {
    // 25% duty cycle, 1 ms period, for 1 s: the signal ends within a few % of 0.25.
    let u = 0;
    for (let i = 0; i < 1000; i++) u = peltAdvance(peltAdvance(u, true, 250_000), false, 750_000);
    expect(u).toBeGreaterThan(0.22);
    expect(u).toBeLessThan(0.28);
  });

  it('does not move for a zero or negative interval', () => {
    expect(peltAdvance(0.4, true, 0)).toBe(0.4);
    expect(peltAdvance(0.4, false, -5)).toBe(0.4);
  });
});
