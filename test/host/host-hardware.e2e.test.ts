import { describe, expect, it } from 'vitest';
import { createVm } from '../../src/host/vm.ts';
import { parseScenario, type ScenarioInput } from '../../src/scenarios/schema.ts';
import { expectCompleted } from './invariants.ts';

// The host's hardware knobs on real threads: posted interrupts into a vCPU running guest code, and a
// VM exit cost paid as busy time.

const run = (input: ScenarioInput) => createVm(parseScenario({ duration_s: 0.8, vm: { vcpus: 1 }, ...input })).run();

describe('posted interrupts (apicv)', () => {
  it('deliver device interrupts into a spinning guest without exits; without them each one is an exit', async () => {
    const base: ScenarioInput = { guest: { idle: 'poll' }, workload: { kind: 'irq-wake', gap_ns: 100_000 } };
    const off = await run(base);
    const on = await run({ ...base, host: { apicv: true } });
    expectCompleted(off);
    expectCompleted(on);
    const [v0] = off.vcpus;
    const [v1] = on.vcpus;
    expect(v0.model.posted_interrupts).toBe(0);
    expect(v0.exit_reasons.EXTERNAL_INTERRUPT).toBeGreaterThan(100);
    expect(v1.model.posted_interrupts).toBeGreaterThan(100);
    // A few exits remain (an interrupt that lands while IF=0 waits for the interrupt window).
    expect(v1.stats.exits as number).toBeLessThan((v1.model.posted_interrupts as number) / 10);
  });
});

describe('exit_cost_ns', () => {
  it('makes every exit cost that much time in KVM', async () => {
    const r = await run({ host: { exit_cost_ns: 100_000, kvm: { halt_poll_ns: 0 } }, workload: { kind: 'irq-wake', gap_ns: 300_000 } });
    expectCompleted(r);
    const [v] = r.vcpus;
    const exits = v.stats.exits as number;
    expect(exits).toBeGreaterThan(100);
    // The busy time is spent in the "host" state (in KVM, outside guest mode), on the wall clock.
    expect(v.cpu.state_s.host).toBeGreaterThan(exits * 100e-6 * 0.9);
  });
});
