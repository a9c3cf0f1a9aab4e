import { describe, expect, it } from 'vitest';
import { now } from '../../src/actors/clock.ts';
import { createVm } from '../../src/host/vm.ts';
import { Watchdog } from '../../src/host/watchdog.ts';
import { vcpuRecords } from '../../src/host/layout.ts';
import { TIMER, LINE } from '../../src/host/kvm/vcpu-state.ts';
import { enterRunState, RUN_STATE } from '../../src/host/thread-state.ts';
import { parseScenario } from '../../src/scenarios/schema.ts';

// The watchdog on a VM whose shared state is set by hand: it must see each kind of stuck vCPU.

const setup = () => {
  const vm = createVm(parseScenario({ vm: { vcpus: 3 }, workload: { kind: 'mixed' } }), { flightRecorder: 8 });
  return { vm, dog: new Watchdog(vm, 100e6) };
};

describe('the stress watchdog', () => {
  it('finds nothing wrong with idle vCPUs', () => {
    const { dog } = setup();
    expect(dog.check()).toEqual([]);
  });

  it('reports a vCPU blocked with an interrupt pending past the bound: a lost wakeup', () => {
    const { vm, dog } = setup();
    const { block: v, thread: t } = vcpuRecords(vm.mem, 1);
    enterRunState(t, RUN_STATE.BLOCKED, now());
    v.store('irr', 1 << LINE.DEVICE0);
    v.f64[v.F.pending_since + LINE.DEVICE0] = now() - 50e6;
    expect(dog.check()).toEqual([]); // 50 ms: within the bound
    v.f64[v.F.pending_since + LINE.DEVICE0] = now() - 500e6;
    const [f] = dog.check();
    expect(f.vcpu).toBe(1);
    expect(f.problem).toMatch(/blocked for \d+ ms with interrupt line 1 pending: a lost wakeup/);
    expect(f.state).toContain('blocked');
  });

  it.each([
    ['the host thread', TIMER.ON_HOST],
    ['its own sleeping thread', TIMER.ON_SLEEPER],
  ])('reports a sleeping vCPU whose deadline passed unfired by %s: a lost timer', (_who, mode) => {
    const { vm, dog } = setup();
    const { block: v, thread: t } = vcpuRecords(vm.mem, 2);
    enterRunState(t, RUN_STATE.BLOCKED, now());
    v.store('timer_mode', mode);
    v.set('tsc_deadline', now() + 1e9);
    expect(dog.check()).toEqual([]);
    v.set('tsc_deadline', now() - 300e6);
    expect(dog.check()[0]).toMatchObject({ vcpu: 2, problem: expect.stringContaining('a lost timer') });
  });

  it('reports a vCPU in an untrapped WFI with an interrupt pending, or its own timer past due (arm64)', () => {
    const { vm, dog } = setup();
    const { block: v, thread: t } = vcpuRecords(vm.mem, 1);
    enterRunState(t, RUN_STATE.NATIVE_IDLE, now());
    v.store('timer_mode', TIMER.ON_VCPU);
    v.set('tsc_deadline', now() + 1e9);
    expect(dog.check()).toEqual([]);
    v.store('irr', 1 << LINE.DEVICE0);
    v.f64[v.F.pending_since + LINE.DEVICE0] = now() - 500e6;
    expect(dog.check()[0]).toMatchObject({ vcpu: 1, problem: expect.stringMatching(/in an untrapped WFI\/WFE for \d+ ms with interrupt line 1 pending/) });
    v.store('irr', 0);
    v.set('tsc_deadline', now() - 300e6);
    expect(dog.check()[0]).toMatchObject({ vcpu: 1, problem: expect.stringContaining('a lost timer') });
  });

  it('bounds polls by kvm_vcpu_halt() calls (HLTs, arm64’s trapped WFIs, re-entries of a halted vCPU)', () => {
    const { vm, dog } = setup();
    const { stats: s } = vcpuRecords(vm.mem, 0);
    s.store('halt_attempted_poll', 2);
    expect(dog.check()[0]).toMatchObject({ vcpu: 0, problem: expect.stringContaining('do not add up') });
    s.store('halt_calls', 2);
    expect(dog.check()).toEqual([]);
  });

  it('reports halt statistics that do not add up', () => {
    const { vm, dog } = setup();
    const { stats: s } = vcpuRecords(vm.mem, 0);
    s.store('halt_successful_poll', 3);
    expect(dog.check()[0]).toMatchObject({ vcpu: 0, problem: expect.stringContaining('do not add up') });
  });
});
