import { describe, expect, it } from 'vitest';
import { applyOverrides, parseOverrides } from '../../src/scenarios/overrides.ts';
import { parsePolicy } from '../../src/scenarios/policies.ts';
import { parseScenario } from '../../src/scenarios/schema.ts';
import { guestProgram } from '../../src/workloads/index.ts';
import { MSR_KVM_LAZY_TSCDEADLINE } from '../../src/guest/isa.ts';
import { BUILTIN_SCENARIOS } from '../../src/scenarios/builtin.ts';

// Proposals are opt-in, named as proposals, and validated strictly.

describe('host.proposals', () => {
  it('are off by default: mainline KVM', () => {
    expect(parseScenario({}).host.proposals).toEqual({ lazy_tscdeadline: false, userspace_exit: { hlt: false, mwait: false, mwait_yield: false } });
  });

  it('turn on by knob (--set, compare, sweep) and by the named policy', () => {
    const viaKnob = parseScenario(applyOverrides({}, parseOverrides('lazy_tscdeadline=true')));
    expect(viaKnob.host.proposals.lazy_tscdeadline).toBe(true);
    const viaPolicy = parseScenario(applyOverrides({}, parsePolicy('lazy-tscdeadline').overrides));
    expect(viaPolicy.host.proposals.lazy_tscdeadline).toBe(true);
  });

  it('refuse a non-boolean and an unknown proposal, naming the field', () => {
    expect(() => parseScenario({ host: { proposals: { lazy_tscdeadline: 'yes' } } })).toThrow(/host\.proposals\.lazy_tscdeadline: .*boolean/);
    expect(() => parseScenario({ host: { proposals: { lazy_tsc: true } } })).toThrow(/host\.proposals: .*lazy_tsc/);
  });

  it('reach the guest as a CPUID feature: only then does its kernel register the page and pick the lazy clockevent', () => {
    const program = (lazy: boolean) => guestProgram(parseScenario({ host: { proposals: { lazy_tscdeadline: lazy } }, workload: { kind: 'hrtimer-rearm' } }));
    const registers = (p: ReturnType<typeof program>) => p.code.some((i) => i.op === 'wrmsr' && i.msr === MSR_KVM_LAZY_TSCDEADLINE);
    expect(program(true).clockevent).toBe('kvm-lazy-tscdeadline');
    expect(registers(program(true))).toBe(true);
    expect(program(false).clockevent).toBe('lapic-deadline');
    expect(registers(program(false))).toBe(false);
  });
});

describe('the hrtimer-rearm workload', () => {
  it('is a built-in scenario with its defaults and knobs', () => {
    expect(BUILTIN_SCENARIOS['hrtimer-rearm'].source).toMatch(/lazy tscdeadline/);
    const s = parseScenario(applyOverrides({ workload: { kind: 'hrtimer-rearm' } }, parseOverrides('event_ns=5000,timeout_ns=50000,rearms=10')));
    expect(s.workload).toEqual({ kind: 'hrtimer-rearm', event_ns: 5000, timeout_ns: 50_000, rearms: 10 });
    expect(guestProgram(s).code.filter((i) => i.op === 'set_next_event')).toHaveLength(10);
  });

  it('refuses guest idle modes other than halt, naming the field', () => {
    for (const idle of ['poll', 'haltpoll']) {
      expect(() => parseScenario({ guest: { idle }, workload: { kind: 'hrtimer-rearm' } })).toThrow(/guest\.idle: hrtimer-rearm .*only idle halt/);
    }
  });
});
