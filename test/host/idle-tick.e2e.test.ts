import { describe, expect, it } from 'vitest';
import { createVm } from '../../src/host/vm.ts';
import { parseScenario, type ScenarioInput } from '../../src/scenarios/schema.ts';
import { expectCompleted } from './invariants.ts';

// Idle guests woken only by their tick, under mainline's adaptive window and Linux 4.0's fixed one:
// the fixed window polls on every halt and fails (the tick is far longer than the window); the
// adaptive one stops polling, as dynamic halt-polling was written to do.

const run = (host: ScenarioInput['host']) =>
  createVm(parseScenario({ duration_s: 0.8, host, vm: { vcpus: 2 }, workload: { kind: 'idle-tick', tick_ns: 5_000_000 } })).run();

describe('idle-tick', () => {
  it('Linux 4.0 polls the whole halt_poll_ns on every halt; 6.11 shrinks its window to 0 and stops', async () => {
    const fixed = await run({ kernel: '4.0', kvm: { halt_poll_ns: 200_000 } });
    const adaptive = await run({ kernel: '6.11', kvm: { halt_poll_ns: 200_000 } });
    expectCompleted(fixed);
    expectCompleted(adaptive);
    for (const v of fixed.vcpus) {
      const halts = v.stats.halt_exits as number;
      expect(halts).toBeGreaterThan(50); // a tick every 5 ms for 0.8 s
      // Every halt polled (a few may find the interrupt already there), and failed: the tick is 25 windows away.
      expect(v.stats.halt_attempted_poll as number).toBeGreaterThanOrEqual(halts - 2);
      expect(v.stats.halt_successful_poll as number).toBeLessThan(halts / 10);
      // Each failed poll ran its whole window: at least 150 µs on average of the 200 µs.
      expect((v.stats.halt_poll_fail_ns as number) / (v.stats.halt_attempted_poll as number)).toBeGreaterThan(150_000);
      expect(v.halt_poll_ns).toBe(200_000); // the fixed window is the ceiling
    }
    for (const v of adaptive.vcpus) {
      // The window starts at 0 and a 5 ms block never grows it: no poll at all.
      expect(v.stats.halt_attempted_poll as number).toBe(0);
    }
  });
});
