import { describe, expect, it } from 'vitest';
import { createVm } from '../../src/host/vm.ts';
import { parseScenario } from '../../src/scenarios/schema.ts';
import { expectCompleted } from './invariants.ts';

// A guest with cpuidle-haltpoll polls in guest mode before it halts, and its driver turns host
// polling off (MSR_KVM_POLL_CONTROL = 0), so KVM's halt path never polls for it.

describe('guest cpuidle-haltpoll', () => {
  it('polls in the guest, halts when the poll runs out, and keeps the host from polling', async () => {
    const r = await createVm(
      parseScenario({ duration_s: 1.5, vm: { vcpus: 2 }, guest: { idle: 'haltpoll' }, workload: { kind: 'mixed', delta_ns: 150_000, gap_ns: 80_000 } }),
    ).run();
    expectCompleted(r);
    for (const v of r.vcpus) {
      const g = v.guest_haltpoll!;
      expect(g).not.toBeNull();
      expect(g.polls).toBeGreaterThan(100);
      expect(g.halts).toBe(v.stats.halt_exits);
      // Polls end both ways: an interrupt within the window, or the window running out; and a poll that
      // ran out is followed by a HLT (haltpoll_select, fact 26; the last one may be cut by the stop).
      expect(g.polls_timed_out).toBeGreaterThan(0);
      expect(g.polls - g.polls_timed_out).toBeGreaterThan(0);
      expect(g.halts).toBeGreaterThanOrEqual(g.polls_timed_out - 1);
      expect(v.stats.halt_attempted_poll).toBe(0); // kvm_arch_no_poll()
      expect(v.exit_reasons.MSR_WRITE).toBeGreaterThan(1); // the poll-control write at boot, then the deadlines
    }
    // A guest without the driver reports no governor.
    const plain = await createVm(parseScenario({ duration_s: 0.3, vm: { vcpus: 1 } })).run();
    expect(plain.vcpus[0].guest_haltpoll).toBeNull();
  });
});
