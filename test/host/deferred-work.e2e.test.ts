import { describe, expect, it } from 'vitest';
import { createVm } from '../../src/host/vm.ts';
import { parseScenario, type ScenarioInput } from '../../src/scenarios/schema.ts';
import { expectCompleted } from './invariants.ts';

// seeds/000's deferred work on real threads: a main loop queues items; workqueue threads, idle vCPUs
// (with the userspace-exit proposal) and the main loop's fallback timer take them. Each item must run
// exactly once whoever takes it, and each taker only when its mechanism is on.

const run = (workload: Record<string, unknown>, host: ScenarioInput['host'] = {}) =>
  createVm(parseScenario({ duration_s: 0.7, host, vm: { vcpus: 2 }, workload: { kind: 'deferred-work', ...workload } as ScenarioInput['workload'] })).run();

describe('deferred-work', () => {
  it('workqueue threads alone: they run everything, no vCPU does', async () => {
    const r = await run({ workers: 2 });
    expectCompleted(r);
    expect(r.deferred!.created).toBeGreaterThan(500);
    expect(r.deferred!.done.workers).toBeGreaterThan(0);
    expect(r.deferred!.done.vcpus).toBe(0);
  });

  it('no workqueue thread and no proposal: only the fallback timer runs items, each after waiting its period', async () => {
    const r = await run({ workers: 0, fallback_ns: 20_000_000 });
    expectCompleted(r);
    const d = r.deferred!;
    expect(d.done.workers + d.done.vcpus).toBe(0);
    expect(d.done.fallback).toBeGreaterThan(100);
    expect(d.wait_ns.fallback.min).toBeGreaterThanOrEqual(20_000_000);
  });

  it('with the userspace-exit proposal, idle vCPUs take items on their HLT exits', async () => {
    const r = await run({ workers: 0, fallback_ns: 0 }, { proposals: { userspace_exit: { hlt: true } } });
    expectCompleted(r);
    const d = r.deferred!;
    expect(d.done.vcpus).toBeGreaterThan(100);
    expect(d.done.fallback).toBe(0);
    for (const v of r.vcpus) expect(v.model.kvm_exit_hlt).toBeGreaterThan(0);
  });
});
