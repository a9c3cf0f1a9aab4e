import { describe, expect, it } from 'vitest';
import { refuseInertPolicy } from '../../src/cli/compare.ts';
import { FINDINGS } from '../../src/findings/findings.ts';
import { BUILTIN_SCENARIOS } from '../../src/scenarios/builtin.ts';
import { inertKnobs, inertWarning } from '../../src/scenarios/inert.ts';
import { applyOverrides, parseOverrides } from '../../src/scenarios/overrides.ts';
import { parsePolicy, POLICIES } from '../../src/scenarios/policies.ts';
import { parseScenario } from '../../src/scenarios/schema.ts';

// Knobs that cannot act in a scenario as configured are named, and a compare policy made only of
// them is refused (src/scenarios/inert.ts).

const scenario = (name: string, set = '') => {
  const base = BUILTIN_SCENARIOS[name].scenario;
  return parseScenario(set ? applyOverrides(base, parseOverrides(set)) : base);
};
const inertPaths = (name: string, set: string) => inertKnobs(scenario(name, set)).map((k) => k.path.join('.'));

describe('inert knobs', () => {
  it('none in any built-in scenario as shipped', () => {
    for (const name of Object.keys(BUILTIN_SCENARIOS)) expect(inertKnobs(scenario(name)), name).toEqual([]);
  });

  it.each([
    ['the I/O thread’s polling outside dsync-io', 'timer-latency', 'poll_max_ns=0', ['vmm.iothread.poll_max_ns'], []],
    ['the I/O thread’s polling on bare metal', 'dsync-io', 'poll_grow=4,bare_metal=true', ['vmm.iothread.poll_grow'], ['poll_grow=4']],
    ['guest haltpoll parameters without idle=haltpoll', 'timer-latency', 'guest_halt_poll_ns=100000', ['guest.haltpoll.guest_halt_poll_ns'], ['guest_halt_poll_ns=100000,idle=haltpoll']],
    ['block_size on the synthetic device', 'dsync-io', 'backend=synthetic,block_size=8192', ['workload.block_size'], ['block_size=8192']],
    ['synthetic_latency_ns on the file backend', 'dsync-io', 'synthetic_latency_ns=20000', ['workload.synthetic_latency_ns'], ['backend=synthetic,synthetic_latency_ns=20000']],
    ['idle-state latencies with cpuidle off', 'timer-latency', 'deep_exit_latency_ns=5000', ['host.cpuidle.deep_exit_latency_ns'], ['cpuidle=true,deep_exit_latency_ns=5000']],
    ['halt polling with a userspace irqchip', 'timer-latency', 'irqchip=userspace,halt_poll_ns=50000,kvm_cap_halt_poll=1000', ['host.kvm.halt_poll_ns', 'host.kvm_cap_halt_poll'], ['halt_poll_ns=50000']],
    ['halt polling with HLT in guest mode', 'timer-latency', 'disable_exits_hlt=true,halt_poll_ns_shrink=0', ['host.kvm.halt_poll_ns_shrink'], ['halt_poll_ns_shrink=0']],
    ['halt polling on bare metal', 'dsync-io', 'bare_metal=true,halt_poll_ns=0', ['host.kvm.halt_poll_ns'], ['halt_poll_ns=0']],
    ['the adaptive window’s parameters on Linux 4.0', 'idle-tick', 'kernel=4.0,halt_poll_ns=2000000,halt_poll_ns_grow=4', ['host.kvm.halt_poll_ns_grow'], ['kernel=6.10,halt_poll_ns_grow=4']],
  ])('names %s, and not when it acts', (_what, name, set, paths, acting) => {
    expect(inertPaths(name, set)).toEqual(paths);
    for (const a of acting) expect(inertPaths(name, a), a).toEqual([]);
  });

  it('says which knob and why in its warning', () => {
    const [k] = inertKnobs(scenario('timer-latency', 'poll_max_ns=0'));
    expect(inertWarning(k)).toBe("vmm.iothread.poll_max_ns is set but does nothing here: only dsync-io's I/O thread polls; the timer-latency workload's does not");
  });
});

describe('compare refuses a policy whose every knob is inert', () => {
  const check = (name: string, policy: string) => {
    const p = parsePolicy(policy);
    refuseInertPolicy(p, parseScenario(applyOverrides(BUILTIN_SCENARIOS[name].scenario, p.overrides)), `built-in ${name}`);
  };

  it('refuses iothread-no-poll on timer-latency, naming the knob and why', () => {
    expect(() => check('timer-latency', 'iothread-no-poll')).toThrow(/policy "iothread-no-poll" changes nothing in this scenario: poll_max_ns \(vmm\.iothread\.poll_max_ns\): only dsync-io's I\/O thread polls/);
  });

  it('accepts it where it acts, a policy with one knob that acts, and the baseline with none', () => {
    expect(() => check('dsync-io', 'iothread-no-poll')).not.toThrow();
    expect(() => check('timer-latency', 'poll_max_ns=0,halt_poll_ns=0')).not.toThrow();
    expect(() => check('timer-latency', 'poll')).not.toThrow();
  });

  it('accepts every configuration the findings measure, and every named policy on its own scenario where it applies', () => {
    for (const f of FINDINGS) {
      for (const c of f.groups.flat()) {
        const p = parsePolicy(c.policy);
        const base = applyOverrides(BUILTIN_SCENARIOS[c.scenario].scenario, c.set ? parseOverrides(c.set) : []);
        expect(() => refuseInertPolicy(p, parseScenario(applyOverrides(base, p.overrides)), c.label), `${f.id} ${c.label}`).not.toThrow();
      }
    }
    for (const [name, p] of Object.entries(POLICIES)) if (p.workload) expect(() => check(p.workload!, name), name).not.toThrow();
  });
});
