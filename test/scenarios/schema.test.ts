import { describe, expect, it } from 'vitest';
import { parseScenario, ScenarioError } from '../../src/scenarios/schema.ts';
import { BUILTIN_SCENARIOS } from '../../src/scenarios/builtin.ts';

const errorOf = (input: unknown): string => {
  try {
    parseScenario(input, 'test.json');
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return (e as Error).message;
  }
  throw new Error('expected a ScenarioError');
};

describe('scenario validation', () => {
  it('fills the defaults: 2 vCPUs on 2 pCPUs, kernel 6.11, timer-latency at 100 µs', () => {
    const s = parseScenario({});
    expect(s.vm.vcpus).toBe(2);
    expect(s.host).toMatchObject({ pcpus: 2, kernel: '6.11', kvm: {}, kvm_cap_halt_poll: null });
    expect(s.workload).toEqual({ kind: 'timer-latency', delta_ns: 100_000 });
  });

  it.each([
    [{ vm: { vcpus: 0 } }, 'vm.vcpus', '0'],
    [{ vm: { vcpus: 1000 } }, 'vm.vcpus', '1000'],
    [{ host: { kvm: { halt_poll_ns: -5 } } }, 'host.kvm.halt_poll_ns', '-5'],
    [{ host: { kvm: { halt_poll_ns: 'fast' } } }, 'host.kvm.halt_poll_ns', '"fast"'],
    [{ host: { kernel: '5.4' } }, 'host.kernel', '"5.4"'],
    [{ workload: { kind: 'timer-latency', delta_ns: 10 } }, 'workload.delta_ns', '10'],
    [{ workload: { kind: 'nope' } }, 'workload.kind', '"nope"'],
    [{ duration_s: -1 }, 'duration_s', '-1'],
  ])('names the field and the value of a bad scenario: %j', (input, field, value) => {
    const msg = errorOf(input);
    expect(msg).toContain('test.json');
    expect(msg).toContain(`${field}:`);
    expect(msg).toContain(`got ${value}`);
  });

  it('rejects unknown keys instead of ignoring them', () => {
    expect(errorOf({ host: { kvm: { halt_poll_nss: 1 } } })).toMatch(/host\.kvm.*halt_poll_nss/);
    expect(errorOf({ vcpus: 4 })).toContain('vcpus');
  });

  it('fills in kvm_intel’s PLE defaults, the spinlock workload’s, and overcommits the built-in spinlock scenario', () => {
    const s = parseScenario(BUILTIN_SCENARIOS.spinlock.scenario);
    expect(s.host.kvm_intel).toEqual({ ple_gap: 128, ple_window: 4096, ple_window_grow: 2, ple_window_shrink: 0, ple_window_max: 4_294_967_295 });
    expect(s.workload).toEqual({ kind: 'spinlock', hold_ns: 5000, think_ns: 5000 });
    expect(s.vm.vcpus).toBeGreaterThan(s.host.pcpus);
    expect(errorOf({ host: { kvm_intel: { ple_gap: -1 } } })).toMatch(/host\.kvm_intel\.ple_gap/);
    expect(errorOf({ host: { kvm_intel: { ple_window_max: 2 ** 32 } } })).toMatch(/ple_window_max/);
  });
});
