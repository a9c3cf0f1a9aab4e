import { describe, expect, it } from 'vitest';
import { createVm } from '../../src/host/vm.ts';
import { parseScenario, type ScenarioInput } from '../../src/scenarios/schema.ts';
import type { RunResult } from '../../src/host/results.ts';
import { expectCompleted } from './invariants.ts';

// The spinlock guest on real threads, 4 vCPUs on 2 pCPUs: lock holders get preempted by the host's
// tick, waiters spin. Mutual exclusion (checked by the guest) and the books must hold with PLE on
// or off; PLE exits and directed yields happen only with it on. No timing is asserted.

const run = (input: ScenarioInput) =>
  createVm(parseScenario({ duration_s: 0.8, host: { pcpus: 2 }, vm: { vcpus: 4 }, workload: { kind: 'spinlock' }, ...input })).run();
const total = (r: RunResult, pick: (v: RunResult['vcpus'][number]) => number) => r.vcpus.reduce((a, v) => a + pick(v), 0);

describe('spinlock', () => {
  it('with PLE (mainline defaults): mutual exclusion holds, spinners exit and yield their pCPU to a preempted vCPU', async () => {
    const r = await run({});
    expectCompleted(r);
    const l = r.spinlock!;
    expect(l.mutual_exclusion_violations).toBe(0);
    expect(l.acquisitions).toBeGreaterThan(100);
    expect(l.acquisitions - l.releases).toBeGreaterThanOrEqual(0);
    expect(l.acquisitions - l.releases).toBeLessThanOrEqual(1);
    expect(r.host.preemptions).toBeGreaterThan(0);
    const pleExits = total(r, (v) => v.exit_reasons.PAUSE_INSTRUCTION);
    const boosted = total(r, (v) => v.model.on_spin_yield_successful);
    expect(pleExits).toBeGreaterThan(0);
    expect(boosted).toBeGreaterThan(0);
    expect(boosted).toBeLessThanOrEqual(pleExits);
    // Fact 18: each PLE exit doubles the window, a load after being scheduled out resets it to 4096,
    // so every window is 4096 times a power of two.
    for (const v of r.vcpus) expect(Math.log2(v.ple_window / 4096) % 1).toBe(0);
  });

  it('with ple_gap=0: the same books, and no PLE exit nor directed yield at all', async () => {
    const r = await run({ host: { pcpus: 2, kvm_intel: { ple_gap: 0 } } });
    expectCompleted(r);
    expect(r.spinlock!.mutual_exclusion_violations).toBe(0);
    expect(r.spinlock!.acquisitions).toBeGreaterThan(100);
    expect(total(r, (v) => v.exit_reasons.PAUSE_INSTRUCTION)).toBe(0);
    expect(total(r, (v) => v.model.on_spin_yield_attempted)).toBe(0);
    for (const v of r.vcpus) expect(v.ple_window).toBe(4096);
  });
});
