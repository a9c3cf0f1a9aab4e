import { describe, expect, it } from 'vitest';
import { createVm } from '../../src/host/vm.ts';
import { parseScenario } from '../../src/scenarios/schema.ts';
import { expectCompleted } from './invariants.ts';

// The LAPIC timer's adaptive advance (reference §2.6) on real threads: a whole VM.

describe('the LAPIC timer advance on real threads', () => {
  it('never delivers a timer early, and keeps each vCPU’s advance within KVM’s bounds', async () => {
    const r = await createVm(parseScenario({ duration_s: 0.8, vm: { vcpus: 2 }, workload: { kind: 'timer-latency', delta_ns: 100_000 } })).run();
    expectCompleted(r);
    for (const v of r.vcpus) {
      expect(v.timer_early_count).toBe(0);
      expect(v.lapic_timer_advance_ns).toBeGreaterThan(0);
      expect(v.lapic_timer_advance_ns).toBeLessThanOrEqual(5000);
    }
    const off = await createVm(parseScenario({ duration_s: 0.3, host: { lapic_timer_advance: false }, vm: { vcpus: 1 } })).run();
    expect(off.vcpus[0].lapic_timer_advance_ns).toBe(0);
  });
});
