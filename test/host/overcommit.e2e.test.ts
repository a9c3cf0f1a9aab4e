import { describe, expect, it } from 'vitest';
import { createVm } from '../../src/host/vm.ts';
import { parseScenario } from '../../src/scenarios/schema.ts';
import { expectCompleted } from './invariants.ts';

// arm64 on real workers: one vCPU alone on its pCPU, busy 100 µs per 1 ms tick. With WFI trapped
// (mainline, no direct injection) every idle period is a WFI exit and a halt; the pCPU idles and
// reaches its deep state. With kvm-arm.wfi_trap_policy=notrap the vCPU waits in guest mode, keeps
// its pCPU, and the scheduler's utilisation sees a busy task. Only robust effects, wide margins.

const run = (arm64: object) =>
  createVm(
    parseScenario({
      name: 'overcommit-e2e',
      duration_s: 0.8,
      host: { arch: 'arm64', pcpus: 1, arm64, cpuidle: { enabled: true } },
      vm: { vcpus: 1 },
      workload: { kind: 'overcommit', delta_ns: 1_000_000, busy_ns: 100_000 },
    }),
  ).run();

describe('WFI trapped vs untrapped on real threads', () => {
  it('trapped: WFI exits and halts, deep idle, util near the guest’s share; untrapped: no WFI exit, no deep idle, util near 1', async () => {
    const trapped = await run({});
    const native = await run({ wfi_trap_policy: 'notrap' });
    for (const r of [trapped, native]) expectCompleted(r);
    const [t] = trapped.vcpus;
    const [n] = native.vcpus;

    expect(t.stats.wfi_exit_stat as number).toBeGreaterThan(100);
    expect(t.model.wfi_native).toBe(0);
    expect(t.stats.halt_wakeup as number).toBeGreaterThan(50);
    expect(n.stats.wfi_exit_stat).toBe(0);
    expect(n.exit_reasons.ESR_ELx_EC_WFx).toBe(0);
    expect(n.model.wfi_native).toBeGreaterThan(100);
    expect(n.cpu.state_s.native_idle).toBeGreaterThan(0.2);

    // The reviewers' PELT objection: a lone vCPU in native WFI looks fully busy to the scheduler.
    expect(n.sched.util).toBeGreaterThan(0.9);
    expect(t.sched.util).toBeLessThan(0.6);
    expect(n.sched.util_error).toBeGreaterThan(t.sched.util_error + 0.3);

    // And the power one: a pCPU kept by a natively idling vCPU never goes deep.
    const deep = (r: typeof trapped) => r.host.pcpu_idle.reduce((a, p) => a + p.deep_s, 0);
    expect(deep(trapped)).toBeGreaterThan(0.05);
    expect(deep(native)).toBeLessThan(deep(trapped) / 5);
  });
});
