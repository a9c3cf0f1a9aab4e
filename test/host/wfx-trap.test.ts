import { describe, expect, it } from 'vitest';
import { wfxTraps, type WfxTrapInput } from '../../src/host/kvm/wfx-trap.ts';

// arm64's WFx trap decision at vcpu_load (reference §3.2, checkable facts 23 and 24), as a table:
// policy parameters x GICv4 direct injection x the 2024 proposal's threshold x runqueue depth.

const base: WfxTrapInput = { nr_running: 1, wfi_trap_policy: 'default', wfe_trap_policy: 'default', direct_injection: false, rq_threshold: null };

describe('kvm_vcpu_should_clear_twi/twe', () => {
  it.each<[string, Partial<WfxTrapInput>, boolean, boolean]>([
    // [case, input, twi (WFI trapped), twe (WFE trapped)]
    ['default, alone on the runqueue: WFE untrapped, WFI trapped (no direct injection)', {}, true, false],
    ['default, a second task queued: both trapped', { nr_running: 2 }, true, true],
    ['default, deep runqueue', { nr_running: 5 }, true, true],
    ['default with GICv4 direct injection, alone: both untrapped', { direct_injection: true }, false, false],
    ['default with direct injection, not alone: both trapped', { direct_injection: true, nr_running: 2 }, true, true],
    ['wfi_trap_policy=notrap wins over a deep runqueue', { wfi_trap_policy: 'notrap', nr_running: 3 }, false, true],
    ['wfe_trap_policy=notrap wins over a deep runqueue', { wfe_trap_policy: 'notrap', nr_running: 3 }, true, false],
    ['both trap, alone with direct injection: both trapped', { wfi_trap_policy: 'trap', wfe_trap_policy: 'trap', direct_injection: true }, true, true],
    ['both notrap', { wfi_trap_policy: 'notrap', wfe_trap_policy: 'notrap', nr_running: 4 }, false, false],
    ['proposal, threshold 1, alone: both untrapped without direct injection', { rq_threshold: 1 }, false, false],
    ['proposal, threshold 1, two tasks: both trapped', { rq_threshold: 1, nr_running: 2 }, true, true],
    ['proposal, threshold 2, two tasks: untrapped', { rq_threshold: 2, nr_running: 2 }, false, false],
    ['proposal, threshold 2, three tasks: trapped', { rq_threshold: 2, nr_running: 3 }, true, true],
    ['proposal, threshold 0: always trapped', { rq_threshold: 0 }, true, true],
    ['an explicit policy beats the proposal', { rq_threshold: 1, wfi_trap_policy: 'trap' }, true, false],
  ])('%s', (_name, over, twi, twe) => {
    expect(wfxTraps({ ...base, ...over })).toEqual({ twi, twe });
  });
});
