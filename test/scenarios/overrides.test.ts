import { describe, expect, it } from 'vitest';
import { applyOverrides, parseOverrides } from '../../src/scenarios/overrides.ts';
import { parsePolicy, POLICIES } from '../../src/scenarios/policies.ts';
import { parseScenario, ScenarioError } from '../../src/scenarios/schema.ts';

describe('overrides and policies', () => {
  it('maps short knobs and dotted paths into the scenario', () => {
    const o = parseOverrides('halt_poll_ns=0,pcpus=1 vm.vcpus=3,kvm_cap_halt_poll=null,kernel=6.10');
    const s = parseScenario(applyOverrides({ workload: { kind: 'timer-latency' } }, o));
    expect(s.host.kvm.halt_poll_ns).toBe(0);
    expect(s.host.pcpus).toBe(1);
    expect(s.vm.vcpus).toBe(3);
    expect(s.host.kvm_cap_halt_poll).toBeNull();
    expect(s.host.kernel).toBe('6.10');
  });

  it('does not change the base scenario', () => {
    const base = { host: { kvm: { halt_poll_ns: 5 } } };
    applyOverrides(base, parseOverrides('halt_poll_ns=7'));
    expect(base.host.kvm.halt_poll_ns).toBe(5);
  });

  it('refuses unknown knobs and malformed items', () => {
    expect(() => parseOverrides('halt_poll=1')).toThrow(ScenarioError);
    expect(() => parseOverrides('halt_poll=1')).toThrow(/unknown knob "halt_poll"/);
    expect(() => parseOverrides('halt_poll_ns')).toThrow(/not knob=value/);
  });

  it('knows every named policy, and takes overrides as a policy', () => {
    for (const [name, p] of Object.entries(POLICIES)) parseScenario(applyOverrides(p.workload ? { workload: { kind: p.workload } } : {}, parsePolicy(name).overrides));
    expect(parsePolicy('no-poll').overrides).toEqual([{ knob: 'halt_poll_ns', path: ['host', 'kvm', 'halt_poll_ns'], value: 0 }]);
    expect(parsePolicy('halt_poll_ns=5000').label).toBe('halt_poll_ns=5000');
    expect(() => parsePolicy('fastest')).toThrow(/unknown policy "fastest"/);
  });

  it('knows the PLE and spinlock knobs by their short names', () => {
    expect(parseOverrides('ple_gap=0,ple_window_max=65536,hold_ns=100').map((o) => [o.path.join('.'), o.value])).toEqual([
      ['host.kvm_intel.ple_gap', 0],
      ['host.kvm_intel.ple_window_max', 65536],
      ['workload.hold_ns', 100],
    ]);
    expect(parsePolicy('ple-off').overrides.map((o) => o.path.join('.'))).toEqual(['host.kvm_intel.ple_gap']);
  });
});
