import { describe, expect, it } from 'vitest';
import { createVm } from '../../src/host/vm.ts';
import { parseScenario } from '../../src/scenarios/schema.ts';
import { expectCompleted, expectHaltStatsAddUp } from './invariants.ts';

// The wakeup path on real threads: an I/O thread raises device interrupts (pending + kvm_vcpu_kick)
// at random gaps around the adaptive window, so each vCPU keeps alternating between catching the
// interrupt while polling and being woken from Atomics.wait. No kick may be lost or seen twice.

describe('device interrupts into vCPUs that alternate between polling and blocking', () => {
  it('delivers every interrupt raised exactly once', async () => {
    const scenario = parseScenario({
      name: 'irq-wake-test',
      duration_s: 2.5,
      // Gaps uniform in 0..100 µs against a 100 µs ceiling: the window keeps growing past short
      // gaps and shrinking on long ones, so polls succeed and fail in turn.
      host: { pcpus: 2, kvm: { halt_poll_ns: 100_000 } },
      vm: { vcpus: 1 },
      workload: { kind: 'irq-wake', gap_ns: 50_000, jitter: 1, seed: 11 },
    });
    const r = await createVm(scenario).run();
    expectCompleted(r);
    const raised = r.host.device_interrupts_raised ?? 0;
    const injected = r.vcpus.reduce((a, v) => a + (v.stats.irq_injections as number), 0);
    expect(raised).toBeGreaterThan(5_000);
    // The run stops between "raised" and "taken" for at most one interrupt per vCPU.
    expect(raised - injected).toBeGreaterThanOrEqual(0);
    expect(raised - injected).toBeLessThanOrEqual(1); // one interrupt in flight at a time
    // Each one taken was EOI'd back to the device through the resamplefd (the last may be in the handler).
    expect(injected - (r.host.device_eois ?? 0)).toBeGreaterThanOrEqual(0);
    expect(injected - (r.host.device_eois ?? 0)).toBeLessThanOrEqual(1);
    for (const v of r.vcpus) {
      expectHaltStatsAddUp(v);
      // A sample ends when guest code runs; the run may stop between an injection and that.
      const injected = v.stats.irq_injections as number;
      expect(injected - v.wake_latency_ns.count).toBeGreaterThanOrEqual(0);
      expect(injected - v.wake_latency_ns.count).toBeLessThanOrEqual(1);
      // Both paths really ran: wakes caught by polling, and sleepers woken by a kick.
      expect(v.stats.halt_successful_poll as number).toBeGreaterThan(100);
      expect(v.stats.halt_wakeup as number).toBeGreaterThan(100);
    }
  });
});
