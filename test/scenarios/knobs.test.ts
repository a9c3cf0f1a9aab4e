import { describe, expect, it } from 'vitest';
import { KNOB_ALIASES, NOT_KNOBS, schemaLeaves } from '../../src/scenarios/knobs.ts';
import { applyOverrides, KNOBS, knobPath, parseOverrides } from '../../src/scenarios/overrides.ts';
import { parsePolicy, POLICIES } from '../../src/scenarios/policies.ts';
import { parseScenario, ScenarioSchema } from '../../src/scenarios/schema.ts';

// Knobs come from the scenario's one declaration: a schema leaf cannot go without a knob (nor
// without its description, which --help and the docs read), and every knob reaches a leaf.

const LEAVES = schemaLeaves(ScenarioSchema);
const key = (path: readonly string[]) => path.join('.');

describe('knobs from the schema', () => {
  it('walks every leaf, workloads included', () => {
    const keys = LEAVES.map((l) => key(l.path));
    for (const k of ['host.kvm.halt_poll_ns', 'host.kvm_intel.ple_gap', 'host.cpuidle.enabled', 'guest.haltpoll.guest_halt_poll_ns', 'vmm.iothread.poll_max_ns', 'workload.delta_ns', 'workload.vcpu_budget_ns', 'workload.rearms']) {
      expect(keys).toContain(k);
    }
  });

  it('every schema leaf has a knob that sets it', () => {
    const reached = new Set(Object.values(KNOBS).map(key));
    const missing = LEAVES.map((l) => key(l.path)).filter((k) => !NOT_KNOBS.has(k) && !reached.has(k));
    expect(missing).toEqual([]);
  });

  it('every knob leaf is described (.describe())', () => {
    const undescribed = LEAVES.filter((l) => !NOT_KNOBS.has(key(l.path)) && !l.description).map((l) => key(l.path));
    expect(undescribed).toEqual([]);
  });

  it('every knob names a leaf, and a short name is its leaf’s own unless an alias says otherwise', () => {
    const leaves = new Set(LEAVES.map((l) => key(l.path)));
    for (const [knob, path] of Object.entries(KNOBS)) {
      expect(leaves.has(key(path)), knob).toBe(true);
      expect(knob).toBe(KNOB_ALIASES[key(path)] ?? path[path.length - 1]);
    }
  });

  it('a knob set on the command line lands on its field, strings kept as strings', () => {
    const s = parseScenario(applyOverrides({}, parseOverrides('cpuidle=true,disable_exits_pause=true,kernel=6.10,poll_max_ns=0,guest_halt_poll_ns=5')));
    expect(s.host.cpuidle.enabled).toBe(true);
    expect(s.host.kvm_cap_x86_disable_exits.pause).toBe(true);
    expect(s.host.kernel).toBe('6.10');
    expect(s.vmm.iothread.poll_max_ns).toBe(0);
    expect(s.guest.haltpoll.guest_halt_poll_ns).toBe(5);
    expect(knobPath('userspace_exit_hlt')).toEqual(['host', 'proposals', 'userspace_exit', 'hlt']);
  });

  it('every policy’s overrides parse into a valid scenario', () => {
    for (const [name, p] of Object.entries(POLICIES)) {
      const base = p.workload ? { workload: { kind: p.workload } } : {};
      expect(() => parseScenario(applyOverrides(base, parsePolicy(name).overrides)), name).not.toThrow();
    }
  });
});
