import { describe, expect, it } from 'vitest';
import { allocateVm, vcpuRecords } from '../../src/host/layout.ts';
import { alarmExpire, armAlarm, disarmAlarm } from '../../src/host/vmm/alarm.ts';
import { HOST } from '../../src/host/sched/task-state.ts';
import { createVm } from '../../src/host/vm.ts';
import { parseScenario } from '../../src/scenarios/schema.ts';
import { expectCompleted } from './invariants.ts';

// seeds/001's single-threaded simulation loop on real threads: with the exit on WFI an idle guest
// costs no wall time and virtual time jumps ahead; with only the watchdog, the thread sits in the
// kernel until the signal; plain KVM runs in real time.

const run = (mode: string) =>
  createVm(parseScenario({ duration_s: 0.8, vm: { vcpus: 1 }, workload: { kind: 'sim-loop', mode } as never })).run();

describe('the watchdog alarm', () => {
  it('signals the vCPU thread once when due, and not at all once disarmed', () => {
    const mem = allocateVm({ vcpus: 1, pcpus: 1, actors: 2 });
    const v = vcpuRecords(mem, 0);
    const host = mem.record(HOST, 0);
    armAlarm(v, host, 1_000);
    expect(alarmExpire(v, 500)).toBe(1_000);
    expect(v.block.load('signal_pending')).toBe(0);
    expect(alarmExpire(v, 1_000)).toBe(Infinity);
    expect(v.block.load('signal_pending')).toBe(1);
    expect(disarmAlarm(v)).toBe(false); // already fired
    v.block.store('signal_pending', 0);
    armAlarm(v, host, 2_000);
    expect(disarmAlarm(v)).toBe(true);
    expect(alarmExpire(v, 3_000)).toBe(Infinity);
    expect(v.block.load('signal_pending')).toBe(0);
  });
});

describe('sim-loop', () => {
  it('exit on WFI: virtual time outruns the wall clock, idle exits instead of watchdog kicks', async () => {
    const r = await run('exit-on-wfi');
    expectCompleted(r);
    const s = r.sim!;
    expect(s.idle_exits).toBeGreaterThan(100);
    expect(s.skips).toBeGreaterThan(100);
    expect(s.sim_per_wall).toBeGreaterThan(1.5); // 50 µs of work per 1 ms tick: ~14 on an idle machine
    expect(s.blocked_share).toBeLessThan(0.3);
  });

  it('watchdog only: every quantum ends on the signal, the thread mostly blocked in the kernel, never ahead of real time', async () => {
    const r = await run('watchdog');
    expectCompleted(r);
    const s = r.sim!;
    expect(s.idle_exits).toBe(0);
    expect(s.watchdog_kicks).toBeGreaterThanOrEqual(s.quanta - 1);
    expect(s.sim_per_wall).toBeLessThan(1.05);
    expect(s.blocked_share).toBeGreaterThan(0.3);
  });

  it('on arm64 the exit is the 2023 request’s KVM_EXIT_WFX, taken only by a WFI that would block', async () => {
    const r = await createVm(parseScenario({ duration_s: 0.8, host: { arch: 'arm64' }, vm: { vcpus: 1 }, workload: { kind: 'sim-loop', mode: 'exit-on-wfi' } })).run();
    expectCompleted(r);
    const [v] = r.vcpus;
    expect(v.model.kvm_exit_wfx).toBeGreaterThan(100);
    expect(v.model.kvm_exit_wfx).toBeLessThanOrEqual(v.stats.wfi_exit_stat as number);
    expect(v.stats.halt_attempted_poll).toBe(0); // never blocked in kvm_vcpu_wfi
    expect(r.sim!.sim_per_wall).toBeGreaterThan(1.5);
  });

  it('a VMM with KVM_CAP_EXIT_ON_WFX waits for the next interrupt itself, and loses none', async () => {
    const r = await createVm(parseScenario({ duration_s: 0.8, host: { arch: 'arm64', arm64: { exit_on_wfx: true } }, vm: { vcpus: 1 }, workload: { kind: 'irq-wake' } })).run();
    expectCompleted(r);
    expect(r.vcpus[0].model.kvm_exit_wfx).toBeGreaterThan(100);
    expect(r.vcpus[0].stats.halt_attempted_poll).toBe(0);
  });

  it('plain KVM: real time, the timer in the kernel', async () => {
    const r = await run('kernel');
    expectCompleted(r);
    // No virtual time to measure: no ratio is reported, rather than a constant 1.
    expect(r.sim!.sim_per_wall).toBeNull();
    expect(r.sim!.simulated_s).toBeNull();
    // Ticks counted where the timer fires and where the guest takes it: two counts that must agree.
    expect(r.sim!.ticks).toBeGreaterThan(300);
    expect(r.sim!.ticks - r.sim!.ticks_injected).toBeGreaterThanOrEqual(0);
    expect(r.sim!.ticks - r.sim!.ticks_injected).toBeLessThanOrEqual(1);
    // 50 µs of work per 1 ms tick: the thread is mostly asleep in the kernel, as a real guest's idle.
    expect(r.sim!.blocked_share).toBeGreaterThan(0.5);
  });
});
