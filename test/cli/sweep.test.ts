import { describe, expect, it } from 'vitest';
import { bestWithinBudget, findKnee, parseSweepSpec } from '../../src/cli/sweep.ts';

describe('sweep values', () => {
  it('spreads a range over --steps points, or steps it, or takes a list', () => {
    expect(parseSweepSpec('halt_poll_ns=0..400000', 5).values).toEqual([0, 100_000, 200_000, 300_000, 400_000]);
    expect(parseSweepSpec('halt_poll_ns=0..30000:10000').values).toEqual([0, 10_000, 20_000, 30_000]);
    expect(parseSweepSpec('halt_poll_ns=50000,0,10000').values).toEqual([0, 10_000, 50_000]);
    expect(parseSweepSpec('jitter=0.1..0.5', 3).values).toEqual([0.1, 0.30000000000000004, 0.5]);
  });

  it('refuses what cannot be swept', () => {
    expect(() => parseSweepSpec('nope=1..2')).toThrow(/unknown knob/);
    expect(() => parseSweepSpec('halt_poll_ns=5..1')).toThrow(/must go up/);
    expect(() => parseSweepSpec('halt_poll_ns=7')).toThrow(/at least two values/);
    expect(() => parseSweepSpec('halt_poll_ns=a..b')).toThrow(/not a number/);
    expect(() => parseSweepSpec('halt_poll_ns=0..1000000:1')).toThrow(/too many/);
  });
});

describe('the knee of a latency-vs-CPU curve', () => {
  it('finds the bend where more CPU stops buying latency', () => {
    // Latency falls steeply until 30% CPU, then barely.
    const curve = [
      { x: 10, y: 100 },
      { x: 20, y: 40 },
      { x: 30, y: 5 },
      { x: 60, y: 4 },
      { x: 100, y: 3.5 },
    ];
    expect(findKnee(curve)).toBe(2);
    // Order does not matter.
    expect(findKnee([curve[4], curve[2], curve[0], curve[3], curve[1]])).toBe(1);
  });

  it('has no knee on a flat, noisy curve: latency that does not fall as CPU rises', () => {
    const flat = [9.7, 9.9, 10.6, 11.1, 10.7, 11.4].map((x, i) => ({ x, y: [11.6, 12.4, 14.5, 14.5, 13.4, 13.5][i] }));
    expect(findKnee(flat)).toBe(-1);
  });

  it('has no knee on a straight line or with too few points', () => {
    expect(findKnee([{ x: 0, y: 10 }, { x: 1, y: 5 }, { x: 2, y: 0 }])).toBe(-1);
    expect(findKnee([{ x: 0, y: 10 }, { x: 1, y: 5 }])).toBe(-1);
  });

  it('picks the lowest latency within a CPU budget', () => {
    const curve = [
      { x: 10, y: 100 },
      { x: 20, y: 40 },
      { x: 30, y: 5 },
    ];
    expect(bestWithinBudget(curve, 25)).toBe(1);
    expect(bestWithinBudget(curve, 5)).toBe(-1);
  });
});
