import { afterEach, describe, expect, it, vi } from 'vitest';
import * as clock from '../../src/actors/clock.ts';
import { GUEST_EXIT, GuestCpu, type GuestHost } from '../../src/guest/interpreter.ts';
import { LAPIC_TIMER_VECTOR } from '../../src/guest/kernel/vectors.ts';
import { hrtimerRearm } from '../../src/guest/workloads/hrtimer-rearm.ts';

// The hrtimer-rearm guest against the race that would lose its timer: the last deadline of a cycle
// comes due before the guest halts (its vCPU thread was descheduled). A fake KVM injects the timer
// interrupt at the first entry with IF set, as KVM does; guest time moves 100 ns per clock read.

afterEach(() => vi.restoreAllMocks());

describe('hrtimer-rearm', () => {
  it('never halts with no deadline programmed and nothing pending, even when the last deadline fires before the halt', () => {
    let t = 0;
    vi.spyOn(clock, 'now').mockImplementation(() => (t += 100));
    const rearms = 3;
    const cpu = new GuestCpu(hrtimerRearm({ event_ns: 1_000, timeout_ns: 5_000, rearms }));
    let pending = false;
    const host: GuestHost = { kicked: () => false, timerDue: () => false, interruptWindowRequested: () => pending, wfxTrapped: () => true, eoi: () => {}, sample: () => {}, hltInGuest: false, mwaitInGuest: false, idleInGuest: (): 0 => { throw new Error('no native idle on this fake host'); }, monitor: () => {}, store: () => {}, load: () => 0, cmpxchg: () => 0, xadd: () => 0, pauseLoopExit: () => false, cpuId: () => 0 };
    let writes = 0;
    let halts = 0;
    for (let step = 0; halts < 4 && step < 1_000; step++) {
      if (pending && cpu.interruptsEnabled) {
        cpu.inject(LAPIC_TIMER_VECTOR);
        pending = false;
      }
      const exit = cpu.run(host);
      // The cycle's last deadline is due at once: it fires at the next entry.
      if (exit === GUEST_EXIT.MSR_WRITE && ++writes % rearms === 0) pending = true;
      if (exit === GUEST_EXIT.HLT) {
        halts++;
        // r1 is the deadline the guest waits for (+inf once its interrupt was handled).
        expect(pending || Number.isFinite(cpu.regs[1])).toBe(true);
        pending = true; // the timer fires while it halts
      }
    }
    expect(halts).toBe(4);
    expect(writes).toBe(4 * rearms);
  });

  it('takes `sti; hlt` as one step (STI interrupt shadow): a pending interrupt ends the halt instead of coming first', () => {
    const cpu = new GuestCpu(hrtimerRearm({ event_ns: 1_000, timeout_ns: 5_000, rearms: 1 }));
    const host: GuestHost = { kicked: () => false, timerDue: () => false, interruptWindowRequested: () => true, wfxTrapped: () => true, eoi: () => {}, sample: () => {}, hltInGuest: false, mwaitInGuest: false, idleInGuest: (): 0 => { throw new Error('no native idle on this fake host'); }, monitor: () => {}, store: () => {}, load: () => 0, cmpxchg: () => 0, xadd: () => 0, pauseLoopExit: () => false, cpuId: () => 0 };
    // entry: sti with an interrupt waiting is an interrupt window (not followed by hlt)...
    expect(cpu.run(host)).toBe(GUEST_EXIT.INTERRUPT_WINDOW);
    // ...the loop's cli; set_next_event; then sti; hlt halts.
    expect(cpu.run(host)).toBe(GUEST_EXIT.MSR_WRITE);
    expect(cpu.interruptsEnabled).toBe(false);
    expect(cpu.run(host)).toBe(GUEST_EXIT.HLT);
    expect(cpu.interruptsEnabled).toBe(true);
  });
});
