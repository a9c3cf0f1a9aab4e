import { describe, expect, it } from 'vitest';
import { applyOverrides, parseOverrides } from '../../src/scenarios/overrides.ts';
import { parsePolicy } from '../../src/scenarios/policies.ts';
import { parseScenario } from '../../src/scenarios/schema.ts';

// The x86 HLT/MWAIT knobs as the command line and scenario files give them.

const withSet = (text: string) => parseScenario(applyOverrides({}, parseOverrides(text)));

describe('x86 exit knobs', () => {
  it('default to mainline: in-kernel irqchip, nothing disabled, no proposal, HLT idle', () => {
    const s = parseScenario({});
    expect(s.host.irqchip).toBe('kernel');
    expect(s.host.kvm_cap_x86_disable_exits).toEqual({ hlt: false, mwait: false, pause: false });
    expect(s.host.proposals.userspace_exit).toEqual({ hlt: false, mwait: false, mwait_yield: false });
    expect(s.guest.idle).toBe('halt');
  });

  it('set from --set knobs', () => {
    const s = withSet('irqchip=userspace,disable_exits_hlt=true,disable_exits_mwait=true,disable_exits_pause=true,idle=mwait,userspace_exit_hlt=true,userspace_exit_mwait=true,mwait_yield=true');
    expect(s.host.irqchip).toBe('userspace');
    expect(s.host.kvm_cap_x86_disable_exits).toEqual({ hlt: true, mwait: true, pause: true });
    expect(s.host.proposals.userspace_exit).toEqual({ hlt: true, mwait: true, mwait_yield: true });
    expect(s.guest.idle).toBe('mwait');
  });

  it('name the policies compare puts side by side', () => {
    const knobs = (p: string) => Object.fromEntries(parsePolicy(p).overrides.map((o) => [o.knob, o.value]));
    expect(knobs('hlt-in-guest')).toEqual({ disable_exits_hlt: true });
    expect(knobs('guest-mwait')).toEqual({ idle: 'mwait' });
    expect(knobs('mwait-in-guest')).toEqual({ idle: 'mwait', disable_exits_mwait: true });
    expect(knobs('userspace-irqchip')).toEqual({ irqchip: 'userspace' });
    expect(knobs('proposal-exit-hlt')).toEqual({ userspace_exit_hlt: true });
    expect(knobs('proposal-exit-mwait')).toEqual({ idle: 'mwait', userspace_exit_mwait: true });
    expect(knobs('proposal-mwait-yield')).toEqual({ idle: 'mwait', mwait_yield: true });
  });

  it('refuse what is not modelled or not a value, naming the field', () => {
    expect(() => withSet('idle=haltpoll,disable_exits_hlt=true')).toThrow(/guest\.idle: cpuidle-haltpoll with HLT exits disabled/);
    expect(() => withSet('irqchip=split')).toThrow(/host\.irqchip/);
    // PAUSE is accepted now that PLE is modelled; CSTATE (no C-state MSRs) is not a field.
    expect(() => parseScenario({ host: { kvm_cap_x86_disable_exits: { cstate: true } } })).toThrow(/host\.kvm_cap_x86_disable_exits/);
    expect(() => withSet('arch=arm64,disable_exits_pause=true,idle=poll')).toThrow(/host\.kvm_cap_x86_disable_exits\.pause/);
    // PAUSE-loop exiting is VMX only: kvm_intel settings and the spinlock guest (PAUSE spins) are refused on arm64.
    expect(() => withSet('arch=arm64,ple_gap=0')).toThrow(/host\.kvm_intel\.ple_gap: a kvm_intel parameter/);
    expect(() => parseScenario({ host: { arch: 'arm64' }, workload: { kind: 'spinlock' } })).toThrow(/workload\.kind: spinlock spins with PAUSE/);
    expect(parseScenario({ host: { arch: 'arm64' } }).host.kvm_intel.ple_gap).toBe(128); // the defaults alone are no setting
  });
});
