import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { fireTimerOnVcpu, hostTimerExpire, switchTimerToHost, switchTimerToVcpu, timerDueOnVcpu, timerExpiry, writeTscDeadline } from '../../src/host/kvm/lapic-timer.ts';
import { readVcpuStats } from '../../src/host/kvm/stats.ts';
import { IDLE_WAIT, LINE, MODE, RCUWAIT, TIMER, VCPU_BLOCK } from '../../src/host/kvm/vcpu-state.ts';
import { allocateVm, vcpuRecords } from '../../src/host/layout.ts';
import { HOST } from '../../src/host/sched/task-state.ts';

const V = VCPU_BLOCK.i32.index;
const VF = VCPU_BLOCK.f64.index;

// The LAPIC TSC-deadline timer reduced to who fires it (lapic-timer.ts; reference §2.1, §2.6 and
// fact 20): the vCPU's own pCPU while it runs or polls, the host's hrtimer once it sleeps.

function timer(advanceNs = 0) {
  const mem = allocateVm({ vcpus: 1, pcpus: 1, actors: 2 });
  const vcpu = vcpuRecords(mem, 0);
  vcpu.block.set('timer_advance_ns', advanceNs);
  const host = mem.record(HOST, 0);
  const mode = () => vcpu.block.load('timer_mode');
  const irr = () => vcpu.block.load('irr');
  const model = () => readVcpuStats(vcpu.stats).model;
  return { vcpu, host, mode, irr, model };
}

describe('a guest write of MSR_IA32_TSC_DEADLINE', () => {
  it('arms the deadline on the vCPU (the preemption timer) when it is ahead by more than timer_advance_ns', () => {
    const t = timer(1_000);
    writeTscDeadline(t.vcpu, 50_000, 10_000);
    expect(t.mode()).toBe(TIMER.ON_VCPU);
    expect(t.vcpu.block.get('tsc_deadline')).toBe(50_000);
    expect(timerExpiry(t.vcpu.block)).toBe(49_000); // fires timer_advance_ns early
    expect(t.irr()).toBe(0);
    expect(t.model()).toMatchObject({ tsc_deadline_writes: 1, timer_fired_at_write: 0 });
  });

  it('fact 20: a deadline no more than timer_advance_ns ahead is pending at once, with no timer armed', () => {
    const t = timer(1_000);
    writeTscDeadline(t.vcpu, 11_000, 10_000); // exactly advance ahead: start_sw_tscdeadline's <=
    expect(t.mode()).toBe(TIMER.DISARMED);
    expect(t.irr()).toBe(1 << LINE.LAPIC_TIMER);
    expect(t.vcpu.block.f64[VF.pending_since + LINE.LAPIC_TIMER]).toBe(10_000);
    expect(t.vcpu.block.get('expired_tscdeadline')).toBe(11_000); // __kvm_wait_lapic_expire waits to it
    expect(t.model()).toMatchObject({ tsc_deadline_writes: 1, timer_fired_at_write: 1 });
  });

  it('one ns further ahead than the advance is armed, not fired', () => {
    const t = timer(1_000);
    writeTscDeadline(t.vcpu, 11_001, 10_000);
    expect(t.mode()).toBe(TIMER.ON_VCPU);
    expect(t.irr()).toBe(0);
  });

  it('without an advance, a deadline in the past or now fires at write', () => {
    const t = timer(0);
    writeTscDeadline(t.vcpu, 10_000, 10_000);
    expect(t.irr()).toBe(1 << LINE.LAPIC_TIMER);
    expect(t.model().timer_fired_at_write).toBe(1);
  });

  it('writing 0 disarms an armed deadline and fires nothing', () => {
    const t = timer();
    writeTscDeadline(t.vcpu, 50_000, 0);
    writeTscDeadline(t.vcpu, 0, 1_000);
    expect(t.mode()).toBe(TIMER.DISARMED);
    expect(t.irr()).toBe(0);
    expect(t.model()).toMatchObject({ tsc_deadline_writes: 2, timer_fired_at_write: 0 });
  });
});

describe('the timer on the vCPU’s own pCPU', () => {
  it('is due from its expiry on, not a ns before', () => {
    const t = timer(500);
    writeTscDeadline(t.vcpu, 50_000, 0);
    expect(timerDueOnVcpu(t.vcpu.block, 49_499)).toBe(false);
    expect(timerDueOnVcpu(t.vcpu.block, 49_500)).toBe(true);
    expect(timerDueOnVcpu(t.vcpu.block, 60_000)).toBe(true);
  });

  it('is not due on the vCPU once the host owns it', () => {
    const t = timer();
    writeTscDeadline(t.vcpu, 50_000, 0);
    switchTimerToHost(t.vcpu, t.host);
    expect(timerDueOnVcpu(t.vcpu.block, 60_000)).toBe(false);
  });

  it('fires once: the interrupt pending, stamped, the deadline kept for the expiry wait, counted in guest', () => {
    const t = timer();
    writeTscDeadline(t.vcpu, 50_000, 0);
    expect(fireTimerOnVcpu(t.vcpu, 50_200)).toBe(true);
    expect(fireTimerOnVcpu(t.vcpu, 50_300)).toBe(false);
    expect(t.mode()).toBe(TIMER.DISARMED);
    expect(t.irr()).toBe(1 << LINE.LAPIC_TIMER);
    expect(t.vcpu.block.f64[VF.pending_since + LINE.LAPIC_TIMER]).toBe(50_200);
    expect(t.vcpu.block.get('expired_tscdeadline')).toBe(50_000);
    expect(t.model()).toMatchObject({ timer_fired_in_guest: 1, timer_fired_by_host: 0 });
  });

  it('does not fire a disarmed timer', () => {
    const t = timer();
    expect(fireTimerOnVcpu(t.vcpu, 1e9)).toBe(false);
    expect(t.irr()).toBe(0);
    expect(t.model().timer_fired_in_guest).toBe(0);
  });
});

describe('switching the timer to the host when the vCPU sleeps, and back (kvm_lapic_switch_to_sw/hv_timer)', () => {
  it('hands an armed timer to the host and rings its doorbell when the host plans to wake later than the expiry', () => {
    const t = timer(1_000);
    t.host.set('next_expiry', Infinity);
    writeTscDeadline(t.vcpu, 50_000, 0);
    switchTimerToHost(t.vcpu, t.host);
    expect(t.mode()).toBe(TIMER.ON_HOST);
    expect(t.host.load('doorbell')).toBe(1);
  });

  it('does not ring the doorbell when the host already wakes before the expiry', () => {
    const t = timer(1_000);
    t.host.set('next_expiry', 49_000); // exactly the expiry: the host is on time
    writeTscDeadline(t.vcpu, 50_000, 0);
    switchTimerToHost(t.vcpu, t.host);
    expect(t.mode()).toBe(TIMER.ON_HOST);
    expect(t.host.load('doorbell')).toBe(0);
  });

  it('leaves a disarmed timer alone and rings nothing', () => {
    const t = timer();
    t.host.set('next_expiry', Infinity);
    switchTimerToHost(t.vcpu, t.host);
    expect(t.mode()).toBe(TIMER.DISARMED);
    expect(t.host.load('doorbell')).toBe(0);
  });

  it('takes a timer the host did not fire back onto the vCPU; one the host fired stays disarmed', () => {
    const t = timer();
    writeTscDeadline(t.vcpu, 50_000, 0);
    switchTimerToHost(t.vcpu, t.host);
    switchTimerToVcpu(t.vcpu);
    expect(t.mode()).toBe(TIMER.ON_VCPU);
    t.vcpu.block.store('timer_mode', TIMER.DISARMED);
    switchTimerToVcpu(t.vcpu);
    expect(t.mode()).toBe(TIMER.DISARMED);
  });

  it('waits for a host callback still running, as hrtimer_cancel() does, then takes the timer back', async () => {
    const t = timer();
    writeTscDeadline(t.vcpu, 50_000, 0);
    t.vcpu.block.store('timer_mode', TIMER.HOST_FIRING);
    // "The host": another thread that finishes its callback (re-arming: ON_HOST) a few ms later.
    const host = new Worker(
      `const { workerData: { i32, at } } = require('node:worker_threads');
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
       Atomics.store(i32, at, ${TIMER.ON_HOST});`,
      { eval: true, workerData: { i32: t.vcpu.block.i32, at: V.timer_mode } },
    );
    try {
      switchTimerToVcpu(t.vcpu);
      expect(t.mode()).toBe(TIMER.ON_VCPU);
    } finally {
      await host.terminate();
    }
  });

  it('does not hang on a host callback that died mid-fire once the VMM signals the vCPU', () => {
    const t = timer();
    t.vcpu.block.store('timer_mode', TIMER.HOST_FIRING);
    t.vcpu.block.store('signal_pending', 1);
    switchTimerToVcpu(t.vcpu);
    expect(t.mode()).toBe(TIMER.HOST_FIRING);
  });
});

describe('the host’s hrtimer (apic_timer_fn) for a sleeping vCPU', () => {
  function asleep(advanceNs = 0) {
    const t = timer(advanceNs);
    writeTscDeadline(t.vcpu, 50_000, 0);
    switchTimerToHost(t.vcpu, t.host);
    t.vcpu.block.store('rcuwait', RCUWAIT.INTERRUPTIBLE); // asleep in kvm_vcpu_block
    const late: number[] = [];
    return { ...t, late, expire: (at: number) => hostTimerExpire(t.vcpu, at, (ns) => late.push(ns)) };
  }

  it('before the expiry: fires nothing and says when to come back', () => {
    const t = asleep(1_000);
    expect(t.expire(48_999)).toBe(49_000);
    expect(t.mode()).toBe(TIMER.ON_HOST);
    expect(t.irr()).toBe(0);
    expect(t.late).toEqual([]);
  });

  it('at or after the expiry: fires once, reports its own lateness, makes the interrupt pending and wakes the vCPU (one halt_wakeup)', () => {
    const t = asleep(1_000);
    expect(t.expire(49_300)).toBe(Infinity);
    expect(t.late).toEqual([300]);
    expect(t.mode()).toBe(TIMER.DISARMED);
    expect(t.irr()).toBe(1 << LINE.LAPIC_TIMER);
    expect(t.vcpu.block.f64[VF.pending_since + LINE.LAPIC_TIMER]).toBe(49_300);
    expect(t.vcpu.block.get('expired_tscdeadline')).toBe(50_000);
    const s = readVcpuStats(t.vcpu.stats);
    expect(s.model).toMatchObject({ timer_fired_by_host: 1, timer_fired_in_guest: 0 });
    expect(s.stats.halt_wakeup).toBe(1);
    expect(t.vcpu.block.load('kick')).toBe(1);
    expect(t.expire(60_000)).toBe(Infinity); // fired once
    expect(t.late).toEqual([300]);
  });

  it('exactly at the expiry fires, with zero lateness', () => {
    const t = asleep(0);
    expect(t.expire(50_000)).toBe(Infinity);
    expect(t.late).toEqual([0]);
  });

  it('leaves a timer the vCPU owns to the vCPU, due or not', () => {
    const t = timer();
    writeTscDeadline(t.vcpu, 50_000, 0);
    expect(hostTimerExpire(t.vcpu, 40_000, () => {})).toBe(Infinity);
    expect(hostTimerExpire(t.vcpu, 60_000, () => {})).toBe(Infinity);
    expect(t.mode()).toBe(TIMER.ON_VCPU);
    expect(t.irr()).toBe(0);
  });

  it('re-reads the deadline once it holds the timer: a later one armed meanwhile is not fired early', () => {
    const t = asleep(0);
    // Between its first read and its CAS the vCPU took the timer back, armed a later deadline, slept again.
    t.vcpu.block.set('tsc_deadline', 80_000);
    expect(t.expire(60_000)).toBe(80_000);
    expect(t.mode()).toBe(TIMER.ON_HOST);
    expect(t.irr()).toBe(0);
  });

  it('posts the interrupt to a vCPU idling in guest mode instead of waking a sleeper', () => {
    const t = timer();
    writeTscDeadline(t.vcpu, 50_000, 0);
    switchTimerToHost(t.vcpu, t.host);
    t.vcpu.block.store('mode', MODE.IN_GUEST_MODE);
    t.vcpu.block.store('idle_wait', IDLE_WAIT.HLT_IN_GUEST);
    expect(hostTimerExpire(t.vcpu, 50_000, () => {})).toBe(Infinity);
    expect(readVcpuStats(t.vcpu.stats).stats.halt_wakeup).toBe(0);
    expect(t.vcpu.block.load('kick')).toBe(1);
  });
});
