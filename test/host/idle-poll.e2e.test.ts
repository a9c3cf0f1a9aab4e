import { describe, expect, it } from 'vitest';
import { createVm } from '../../src/host/vm.ts';
import { parseScenario } from '../../src/scenarios/schema.ts';
import { expectCompleted } from './invariants.ts';

// A guest booted with idle=poll never halts: its idle loop spins in guest mode, so wakeups come as
// exits (the pCPU's own preemption timer, a kick's external interrupt) and never through KVM's halt
// path. Nothing may be lost on the way: an interrupt that became pending while IF was 0 is taken at
// the interrupt window.

describe('guest idle=poll', () => {
  it('never halts, and still takes every timer and device interrupt once', async () => {
    const r = await createVm(
      parseScenario({ duration_s: 1.5, vm: { vcpus: 2 }, guest: { idle: 'poll' }, workload: { kind: 'mixed', delta_ns: 100_000, gap_ns: 50_000 } }),
    ).run();
    expectCompleted(r);
    for (const v of r.vcpus) {
      expect(v.stats.halt_exits).toBe(0);
      expect(v.stats.halt_attempted_poll).toBe(0);
      expect(v.exit_reasons.PREEMPTION_TIMER).toBeGreaterThan(500);
      expect(v.model.device_interrupts_injected).toBeGreaterThan(10);
      // Device interrupts reach a spinning vCPU by a kick: an external-interrupt exit each.
      expect(v.stats.irq_exits as number).toBeGreaterThan(0);
      expect(v.cpu.state_s.guest).toBeGreaterThan(0.5 * v.cpu.wall_s);
    }
  });
});
