import { afterEach, describe, expect, it, vi } from 'vitest';
import * as clock from '../../src/actors/clock.ts';
import { Assembler } from '../../src/guest/assembler.ts';
import { GuestCpu } from '../../src/guest/interpreter.ts';
import { kvmLapicNextDeadline, setupLapicTimer, type Clockevent } from '../../src/guest/kernel/clockevent.ts';
import { LAPIC_TIMER_VECTOR } from '../../src/guest/kernel/vectors.ts';
import { allocateVm, vcpuRecords } from '../../src/host/layout.ts';
import { hostTimerExpire, switchTimerToHost, writeTscDeadline } from '../../src/host/kvm/lapic-timer.ts';
import { kvmLazyTscdeadlineSetMsr } from '../../src/host/kvm/lazy-tscdeadline.ts';
import { readVcpuStats } from '../../src/host/kvm/stats.ts';
import { KvmVcpu } from '../../src/host/kvm/kvm-vcpu.ts';
import { KVM_EXIT } from '../../src/host/kvm/uapi.ts';
import { kvmVcpuRun } from '../../src/host/kvm/vcpu.ts';
import { LINE, TIMER } from '../../src/host/kvm/vcpu-state.ts';
import { advertiseLazyTscdeadline, KVM } from '../../src/host/kvm/vm-state.ts';
import { Scheduler } from '../../src/host/sched/scheduler.ts';
import { HOST } from '../../src/host/sched/task-state.ts';

// The lazy tscdeadline proposal (reference §2.8) on a fake clock: the guest kernel's clockevent
// and KVM's MSR, preemption-timer and hrtimer paths, with exact exit counts.

afterEach(() => vi.restoreAllMocks());

const T0 = 1_000_000;

function vm(lazy: boolean) {
  const mem = allocateVm({ vcpus: 1, pcpus: 1, actors: 2 });
  if (lazy) advertiseLazyTscdeadline(mem.record(KVM, 0));
  return { mem, vcpu: vcpuRecords(mem, 0) };
}

/** Run `build`'s program to its end on one vCPU, guest time moving `step` ns per clock read. */
function runGuest(lazy: boolean, build: (a: Assembler) => void, step = 5) {
  let t = T0;
  vi.spyOn(clock, 'now').mockImplementation(() => (t += step));
  const { mem, vcpu } = vm(lazy);
  const kind: Clockevent = lazy ? 'kvm-lazy-tscdeadline' : 'lapic-deadline';
  const a = new Assembler();
  // The handler first, so that the program ends (SHUTDOWN) where `build` stops.
  a.label('isr').rdtsc(2).sub(3, 2, 1).sample('timer_lateness', 3).eoi().iret().handler(LAPIC_TIMER_VECTOR, 'isr');
  a.label('entry');
  setupLapicTimer(a, kind).sti();
  build(a);
  const guest = new GuestCpu(a.assemble('rewrites', 'entry', { clockevent: kind }), {
    lazyTscdeadline: { f64: vcpu.block.f64, armed: vcpu.block.F.lazy_armed, pending: vcpu.block.F.lazy_pending },
  });
  const sched = new Scheduler(mem);
  sched.acquire(0);
  const lateness: number[] = [];
  const kvm = new KvmVcpu({ mem, id: 0, sched, guest: guest, observer: {
    injected: () => {},
    sample: (_c: string, v: number) => lateness.push(v),
  } });
  expect(kvmVcpuRun(kvm)).toBe(KVM_EXIT.SHUTDOWN);
  return { ...readVcpuStats(vcpu.stats), lateness, guest, block: vcpu.block };
}

/** The guest pushes its deadline later three times, then once earlier than the last but later than the first. */
const rewrites = (a: Assembler) => {
  for (const d of [10_000, 20_000, 30_000, 25_000]) a.movi(1, T0 + d).setNextEvent(1);
};

describe('lazy tscdeadline: the guest clockevent (kvm_lapic_next_deadline)', () => {
  it.each([
    ['nothing armed: write the MSR', 0, 5_000, true],
    ['earlier than armed: write the MSR', 8_000, 5_000, true],
    ['later than armed: pending only', 8_000, 9_000, false],
    ['equal to armed: pending only (the armed expiry is the one wanted)', 8_000, 8_000, false],
  ])('%s', (_rule, armed, tsc, writes) => {
    const f64 = new Float64Array(2);
    f64[0] = armed;
    expect(kvmLapicNextDeadline({ f64, armed: 0, pending: 1 }, tsc)).toBe(writes);
    expect(f64[1]).toBe(tsc); // pending always holds the latest request
    expect(f64[0]).toBe(armed); // the guest never writes armed
  });
});

describe('lazy tscdeadline: exits for a rewrite sequence', () => {
  it('mainline: every rewrite is an MSR_WRITE exit; the last deadline fires once', () => {
    const r = runGuest(false, (a) => {
      rewrites(a);
      a.compute(40_000);
    });
    expect(r.exit_reasons.MSR_WRITE).toBe(4);
    expect(r.model.tsc_deadline_writes).toBe(4);
    expect(r.exit_reasons.PREEMPTION_TIMER).toBe(1);
    expect(r.model.timer_interrupts_injected).toBe(1);
    expect(r.model.lazy_tscdeadline_rearms).toBe(0);
    expect(r.guest.clockevent?.counts).toEqual({ set_next_event: 4, pending_only: 0 });
    expect(r.lateness).toHaveLength(1);
    expect(r.lateness[0]).toBeGreaterThanOrEqual(0);
    expect(r.lateness[0]).toBeLessThan(1_000);
  });

  it('with the proposal: one MSR write (plus registering the page); the first expiry re-arms at pending, the second fires', () => {
    const r = runGuest(true, (a) => {
      rewrites(a);
      a.compute(40_000);
    });
    // MSR_KVM_LAZY_TSCDEADLINE at boot, then only the first deadline exits.
    expect(r.exit_reasons.MSR_WRITE).toBe(2);
    expect(r.model.tsc_deadline_writes).toBe(1);
    expect(r.guest.clockevent?.counts).toEqual({ set_next_event: 4, pending_only: 3 });
    // The seed's worst case: the saved MSR exits cost a preemption-timer exit for the stale deadline.
    expect(r.exit_reasons.PREEMPTION_TIMER).toBe(2);
    expect(r.model.lazy_tscdeadline_rearms).toBe(1);
    expect(r.model.timer_interrupts_injected).toBe(1);
    expect(r.stats.exits).toBe(r.exit_reasons.MSR_WRITE + r.exit_reasons.PREEMPTION_TIMER);
    // Not early: delivered at the guest's latest deadline (T0 + 25000), not at the stale T0 + 10000.
    expect(r.lateness).toHaveLength(1);
    expect(r.lateness[0]).toBeGreaterThanOrEqual(0);
    expect(r.lateness[0]).toBeLessThan(1_000); // and at it, not at some other deadline
    expect(r.block.get('lazy_armed')).toBe(0); // consumed: the next set_next_event exits again
  });

  it('an earlier deadline than the armed one still exits', () => {
    const r = runGuest(true, (a) => {
      for (const d of [10_000, 20_000, 5_000]) a.movi(1, T0 + d).setNextEvent(1);
    });
    expect(r.model.tsc_deadline_writes).toBe(2);
    expect(r.block.get('lazy_armed')).toBe(T0 + 5_000);
    expect(r.block.get('tsc_deadline')).toBe(T0 + 5_000);
  });

  it('a deadline already past at write time is pending at once and clears armed', () => {
    const r = runGuest(true, (a) => {
      a.cli().movi(1, T0 - 1).setNextEvent(1).movi(1, T0 + 50_000).setNextEvent(1);
    });
    expect(r.model.timer_fired_at_write).toBe(1);
    // armed was cleared, so the later deadline exits too instead of waiting on a stale armed value.
    expect(r.model.tsc_deadline_writes).toBe(2);
    expect(r.block.get('lazy_armed')).toBe(T0 + 50_000);
  });
});

describe('lazy tscdeadline: the host hrtimer of a sleeping vCPU (apic_timer_fn)', () => {
  function sleeping(lazy: boolean) {
    const { mem, vcpu } = vm(lazy);
    if (lazy) kvmLazyTscdeadlineSetMsr(vcpu.block, 1);
    writeTscDeadline(vcpu, 10_000, 0); // armed = 10000
    vcpu.block.set('lazy_pending', 30_000); // then the guest asked for later, without an exit
    switchTimerToHost(vcpu, mem.record(HOST, 0));
    expect(vcpu.block.load('timer_mode')).toBe(TIMER.ON_HOST);
    const fired: number[] = [];
    return { vcpu, expire: (at: number) => hostTimerExpire(vcpu, at, (late) => fired.push(late)), fired };
  }

  it('re-arms at pending without injecting or waking the vCPU, then fires at pending', () => {
    const { vcpu, expire, fired } = sleeping(true);
    const kick = vcpu.block.load('kick');
    expect(expire(10_000)).toBe(30_000);
    expect(vcpu.block.load('irr')).toBe(0);
    expect(vcpu.block.load('kick')).toBe(kick);
    expect(vcpu.block.load('timer_mode')).toBe(TIMER.ON_HOST);
    expect(readVcpuStats(vcpu.stats).model.lazy_tscdeadline_rearms).toBe(1);
    expect(expire(29_999)).toBe(30_000); // never early
    expect(expire(30_000)).toBe(Infinity);
    expect(vcpu.block.load('irr')).toBe(1 << LINE.LAPIC_TIMER);
    expect(fired).toEqual([0]);
    expect(vcpu.block.get('lazy_armed')).toBe(0);
  });

  it('mainline (page not registered): fires the armed deadline', () => {
    const { vcpu, expire, fired } = sleeping(false);
    expect(expire(10_000)).toBe(Infinity);
    expect(vcpu.block.load('irr')).toBe(1 << LINE.LAPIC_TIMER);
    expect(fired).toEqual([0]);
    expect(readVcpuStats(vcpu.stats).model.lazy_tscdeadline_rearms).toBe(0);
  });

  it('a later pending deadline already past at the expiry fires now', () => {
    const { vcpu, expire } = sleeping(true);
    expect(expire(35_000)).toBe(Infinity);
    expect(vcpu.block.load('irr')).toBe(1 << LINE.LAPIC_TIMER);
    expect(readVcpuStats(vcpu.stats).model.lazy_tscdeadline_rearms).toBe(0);
  });
});
