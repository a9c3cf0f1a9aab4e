import { describe, expect, it } from 'vitest';
import { parseScenario, ScenarioError } from '../../src/scenarios/schema.ts';
import { applyOverrides, parseOverrides } from '../../src/scenarios/overrides.ts';
import { parsePolicy } from '../../src/scenarios/policies.ts';
import { BUILTIN_SCENARIOS } from '../../src/scenarios/builtin.ts';
import { kvmParamDefaults } from '../../src/host/kvm/params.ts';

// arm64 scenario settings: defaults, knobs, named policies, and settings that would do nothing.

const errorOf = (input: unknown): string => {
  try {
    parseScenario(input);
  } catch (e) {
    if (e instanceof ScenarioError) return e.message;
    throw e;
  }
  return '';
};

describe('arm64 scenarios', () => {
  it('defaults to x86 with mainline WFx rules and idle states off', () => {
    const s = parseScenario({});
    expect(s.host.arch).toBe('x86');
    expect(s.host.arm64).toEqual({ wfi_trap_policy: 'default', wfe_trap_policy: 'default', direct_injection: false, wfx_rq_threshold: null, exit_on_wfx: false });
    expect(s.host.cpuidle.enabled).toBe(false);
  });

  it('uses arm64’s KVM_HALT_POLL_NS_DEFAULT (500000) on arm64, x86’s (200000) otherwise', () => {
    expect(kvmParamDefaults('6.11', 'arm64').halt_poll_ns).toBe(500_000);
    expect(kvmParamDefaults('6.11', 'x86').halt_poll_ns).toBe(200_000);
    expect(kvmParamDefaults('6.10', 'arm64')).toMatchObject({ halt_poll_ns: 500_000, halt_poll_ns_shrink: 0 });
  });

  it('has halt_poll_ns default to 0 on Linux 4.0, on either architecture (the RFC merged with polling off)', () => {
    expect(kvmParamDefaults('4.0', 'x86').halt_poll_ns).toBe(0);
    expect(kvmParamDefaults('4.0', 'arm64').halt_poll_ns).toBe(0);
  });

  it.each([
    [{ host: { arm64: { wfi_trap_policy: 'notrap' } } }, 'host.arm64.wfi_trap_policy'],
    [{ host: { arm64: { wfx_rq_threshold: 1 } } }, 'host.arm64.wfx_rq_threshold'],
    [{ host: { arm64: { direct_injection: true } } }, 'host.arm64.direct_injection'],
    [{ workload: { kind: 'overcommit', wait: 'wfe' } }, 'workload.wait'],
    [{ host: { arch: 'arm64' }, guest: { idle: 'haltpoll' } }, 'guest.idle'],
    // main's x86-only mechanisms, on an arm64 host
    [{ host: { arch: 'arm64' }, guest: { idle: 'mwait' } }, 'guest.idle'],
    [{ host: { arch: 'arm64', irqchip: 'userspace' } }, 'host.irqchip'],
    [{ host: { arch: 'arm64', kvm_cap_x86_disable_exits: { hlt: true } } }, 'host.kvm_cap_x86_disable_exits.hlt'],
    [{ host: { arch: 'arm64', kvm_cap_x86_disable_exits: { mwait: true } } }, 'host.kvm_cap_x86_disable_exits.mwait'],
    [{ host: { arch: 'arm64', proposals: { lazy_tscdeadline: true } } }, 'host.proposals.lazy_tscdeadline'],
    [{ host: { arch: 'arm64', proposals: { userspace_exit: { hlt: true } } } }, 'host.proposals.userspace_exit.hlt'],
    [{ host: { arch: 'arm64', proposals: { userspace_exit: { mwait_yield: true } } } }, 'host.proposals.userspace_exit.mwait_yield'],
    [{ host: { arch: 'arm64' }, workload: { kind: 'hrtimer-rearm' } }, 'workload.kind'],
  ])('rejects a setting that would do nothing: %j', (input, field) => {
    expect(errorOf(input)).toContain(field);
  });

  it('runs main’s arm64-neutral workloads on arm64 (idle-tick, deferred-work, dsync-io)', () => {
    for (const kind of ['idle-tick', 'deferred-work', 'dsync-io'] as const) expect(errorOf({ host: { arch: 'arm64' }, workload: { kind } })).toBe('');
  });

  it('takes the knobs on the command line, policies as strings', () => {
    const s = parseScenario(applyOverrides({}, parseOverrides('arch=arm64,wfi_trap_policy=notrap,wfe_trap_policy=trap,wfx_rq_threshold=2,cpuidle=true,deep_residency_ns=1000')));
    expect(s.host).toMatchObject({ arch: 'arm64', arm64: { wfi_trap_policy: 'notrap', wfe_trap_policy: 'trap', wfx_rq_threshold: 2 }, cpuidle: { enabled: true, deep_residency_ns: 1000 } });
  });

  it('has named policies for each trap setting, the proposal labelled as one', () => {
    const at = (name: string) => parseScenario(applyOverrides({}, parsePolicy(name).overrides)).host;
    expect(at('wfx-trap').arm64).toMatchObject({ wfi_trap_policy: 'trap', wfe_trap_policy: 'trap' });
    expect(at('wfx-notrap').arm64).toMatchObject({ wfi_trap_policy: 'notrap', wfe_trap_policy: 'notrap' });
    expect(at('wfx-rq-threshold').arm64.wfx_rq_threshold).toBe(1);
    expect(at('wfx-default')).toMatchObject({ arch: 'arm64', arm64: { wfi_trap_policy: 'default', wfx_rq_threshold: null } });
  });

  it('ships an overcommit scenario: arm64, more vCPUs than pCPUs, idle states on', () => {
    const b = BUILTIN_SCENARIOS.overcommit;
    expect(b.summary).toBeTruthy();
    expect(b.source).toContain('seeds/003');
    const s = parseScenario(b.scenario);
    expect(s.host.arch).toBe('arm64');
    expect(s.vm.vcpus).toBeGreaterThan(s.host.pcpus);
    expect(s.host.cpuidle.enabled).toBe(true);
    expect(s.workload.kind).toBe('overcommit');
  });
});
