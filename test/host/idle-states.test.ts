import { describe, expect, it } from 'vitest';
import { CPUIDLE_DEFAULTS, IDLE_STATE, idlePeriod } from '../../src/host/sched/idle-states.ts';

// pCPU idle states: shallow at once, deep after the target residency; waking costs the exit
// latency of the state the pCPU is in, and nothing with idle states off.

const on = { ...CPUIDLE_DEFAULTS, enabled: true, shallow_exit_latency_ns: 1_000, deep_exit_latency_ns: 100_000, deep_residency_ns: 500_000 };

describe('idle state selection and exit latency', () => {
  it.each([
    // idle ns, shallow ns, deep ns, state, exit latency
    [0, 0, 0, IDLE_STATE.SHALLOW, 1_000],
    [200_000, 200_000, 0, IDLE_STATE.SHALLOW, 1_000],
    [499_999, 499_999, 0, IDLE_STATE.SHALLOW, 1_000],
    [500_000, 500_000, 0, IDLE_STATE.DEEP, 100_000],
    [2_000_000, 500_000, 1_500_000, IDLE_STATE.DEEP, 100_000],
  ])('%i ns idle: %i shallow, %i deep, ends in state %i, wake costs %i', (idle, shallow, deep, state, exit) => {
    expect(idlePeriod(idle, on)).toEqual({ shallow_ns: shallow, deep_ns: deep, state, exit_latency_ns: exit });
  });

  it('accounts all the idle time to one state or the other', () => {
    for (const ns of [1, 123_456, 500_001, 9_999_999]) {
      const p = idlePeriod(ns, on);
      expect(p.shallow_ns + p.deep_ns).toBe(ns);
    }
  });

  it('pays no exit latency with idle states off, but still says where the time went', () => {
    expect(idlePeriod(2_000_000, { ...on, enabled: false })).toEqual({ shallow_ns: 500_000, deep_ns: 1_500_000, state: IDLE_STATE.DEEP, exit_latency_ns: 0 });
  });

  it('treats a negative interval (clock skew between threads) as no idle time', () => {
    expect(idlePeriod(-10, on)).toMatchObject({ shallow_ns: 0, deep_ns: 0, state: IDLE_STATE.SHALLOW });
  });
});
