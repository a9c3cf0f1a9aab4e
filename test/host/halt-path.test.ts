import { describe, expect, it } from 'vitest';
import { HALT_POLL_HIST_COUNT } from '../../src/host/kvm/halt-poll.ts';
import { RCUWAIT, TIMER } from '../../src/host/kvm/vcpu-state.ts';
import { EV, Tracer } from '../../src/trace/tracer.ts';
import { enableCapHaltPoll, writeKvmParams } from '../../src/host/kvm/vm-state.ts';
import { BLOCKED, haltHarness, near, oneIn, POLLING, RUNNABLE, type HaltOutcome } from './fixtures/halt-harness.ts';

// The halt path the vCPU thread runs (HaltPath: kvm_vcpu_halt + kvm_vcpu_block, halt.ts), on a
// fake clock, against the reference: §1.5's worked example row by row and the checkable facts'
// edge cases, with every statistic's delta, the time sums included (within a few clock reads).

const V611 = { halt_poll_ns: 200_000, halt_poll_ns_grow: 2, halt_poll_ns_grow_start: 10_000, halt_poll_ns_shrink: 2 };

type Outcome = 'no poll' | 'S' | 'F';

/**
 * What one halt must do to the statistics, from the reference's §1.4 table and fact 9, given
 * the window it polls (`p`, after the entry clamp), when its wake event comes (`block`) and
 * whether the poll caught it. A sleeper is woken once by kvm_vcpu_wake_up (fact 11).
 */
function expected(outcome: Outcome, p: number, block: number) {
  const polled = outcome !== 'no poll';
  const waited = outcome !== 'S';
  const poll = outcome === 'S' ? block : polled ? p : 0;
  return {
    halt_attempted_poll: polled ? 1 : 0,
    halt_successful_poll: outcome === 'S' ? 1 : 0,
    halt_wakeup: waited ? 1 : 0,
    halt_poll_invalid: 0, // s390's invalid wakeups only
    halt_poll_success_ns: outcome === 'S' ? block : 0,
    halt_poll_fail_ns: outcome === 'F' ? p : 0,
    halt_wait_ns: waited ? block - poll : 0,
    halt_poll_success_hist: outcome === 'S' ? oneIn(block) : {},
    halt_poll_fail_hist: outcome === 'F' ? oneIn(p) : {},
    halt_wait_hist: waited ? oneIn(block - poll) : {},
    halt_calls: 1,
  };
}

/** The measured deltas, with each time sum rounded to its nominal value when within a few clock reads. */
function measured(h: HaltOutcome, nominal: ReturnType<typeof expected>) {
  const d = h.delta;
  return {
    halt_attempted_poll: d.halt_attempted_poll,
    halt_successful_poll: d.halt_successful_poll,
    halt_wakeup: d.halt_wakeup,
    halt_poll_invalid: d.halt_poll_invalid,
    halt_poll_success_ns: near(d.halt_poll_success_ns, nominal.halt_poll_success_ns),
    halt_poll_fail_ns: near(d.halt_poll_fail_ns, nominal.halt_poll_fail_ns),
    halt_wait_ns: near(d.halt_wait_ns, nominal.halt_wait_ns),
    halt_poll_success_hist: d.halt_poll_success_hist,
    halt_poll_fail_hist: d.halt_poll_fail_hist,
    halt_wait_hist: d.halt_wait_hist,
    halt_calls: d.halt_calls,
  };
}

describe('HaltPath replays the worked example of reference §1.5 (x86 defaults, Linux >= 6.11)', () => {
  // # | block | p at entry | outcome | new p, exactly as the reference's table gives them.
  const ROWS: [number, number, number, Outcome, number][] = [
    [1, 50_000, 0, 'no poll', 10_000],
    [2, 50_000, 10_000, 'F', 20_000],
    [3, 50_000, 20_000, 'F', 40_000],
    [4, 50_000, 40_000, 'F', 80_000],
    [5, 50_000, 80_000, 'S', 80_000],
    [6, 150_000, 80_000, 'F', 160_000],
    [7, 190_000, 160_000, 'F', 320_000],
    [8, 1_000_000, 200_000, 'F', 100_000],
    [9, 1_000_000, 100_000, 'F', 50_000],
    [10, 1_000_000, 50_000, 'F', 25_000],
    [11, 1_000_000, 25_000, 'F', 12_500],
    [12, 1_000_000, 12_500, 'F', 0],
    [13, 1_000_000, 0, 'no poll', 0],
  ];
  it('gives each row’s outcome, new p and statistic deltas, time sums included', () => {
    // One test for the whole table: each row starts from the window the previous one left.
    const h = haltHarness({ params: V611 });
    const got = ROWS.map(([n, block, p, outcome]) => {
      const r = h.halt(block);
      return { row: n, ...measured(r, expected(outcome, p, block)), p: r.p, blocking: r.delta.blocking, rcuwait: r.rcuwait, blocking_at_schedule: r.blockingAtSchedule };
    });
    expect(got).toEqual(
      ROWS.map(([n, block, p, outcome, newP]) => ({
        row: n,
        ...expected(outcome, p, block),
        p: newP,
        // kvm_vcpu_block() left: blocking back to 0 and the task unregistered; blocking was 1 while it slept.
        blocking: 0,
        rcuwait: RCUWAIT.NONE,
        blocking_at_schedule: outcome === 'S' ? [] : [1],
      })),
    );
    // halt_attempted_poll: rows 2-12; halt_successful_poll: row 5; never an invalid wakeup (s390 only).
    expect(got.reduce((a, r) => a + r.halt_attempted_poll, 0)).toBe(11);
    expect(got.reduce((a, r) => a + r.halt_successful_poll, 0)).toBe(1);
  });
});

describe('HaltPath traces vcpu->halt_poll_ns (trace_kvm_halt_poll_ns) when it changes, and only then', () => {
  it('over the worked example: each grow and shrink, and the entry clamp of row 8', () => {
    const seen: number[] = [];
    const tracer = new (class extends Tracer {
      override emit(_at: number, kind: number, a = 0): void {
        if (kind === EV.HALT_POLL_NS) seen.push(a);
      }
    })(null);
    const h = haltHarness({ params: V611, tracer });
    for (const block of [50_000, 50_000, 50_000, 50_000, 50_000, 150_000, 190_000, 1e6, 1e6, 1e6, 1e6, 1e6, 1e6]) h.halt(block);
    expect(seen).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 200_000, 100_000, 50_000, 25_000, 12_500, 0]);
  });
});

describe('HaltPath: the worked example’s variants (reference §1.5)', () => {
  it('with the pre-6.11 default shrink = 0, one long block resets a 200000 window straight to 0', () => {
    const h = haltHarness({ params: { ...V611, halt_poll_ns_shrink: 0 } });
    h.setWindow(200_000);
    const r = h.halt(1_000_000);
    expect(measured(r, expected('F', 200_000, 1_000_000))).toEqual(expected('F', 200_000, 1_000_000));
    expect(r.p).toBe(0);
  });

  it('a window larger than the block is a success and stays as it is', () => {
    const h = haltHarness({ params: V611 });
    h.setWindow(200_000);
    const r = h.halt(150_000);
    expect(measured(r, expected('S', 200_000, 150_000))).toEqual(expected('S', 200_000, 150_000));
    expect(r.p).toBe(200_000);
  });

  it('an event after the poll gave up but before the first schedule() is a successful poll, and halt_ns > p grows p', () => {
    const h = haltHarness({ params: V611 });
    h.setWindow(20_000);
    const r = h.halt(Infinity, [{ at: 'before-schedule', what: 'irq' }]);
    expect(r.delta).toMatchObject({ halt_attempted_poll: 1, halt_successful_poll: 1, halt_wait_ns: 0, halt_poll_fail_ns: 0 });
    expect(near(r.delta.halt_poll_success_ns, 20_000)).toBe(20_000);
    expect(r.delta.halt_poll_success_hist).toEqual(oneIn(20_000));
    expect(r.delta.halt_wait_hist).toEqual({});
    // The waker found the task TASK_INTERRUPTIBLE and woke it (rcuwait_wake_up() is true), though it never slept.
    expect(r.delta.halt_wakeup).toBe(1);
    expect(r.blockingAtSchedule).toEqual([]);
    expect(r.states).toEqual([POLLING]); // never BLOCKED, never RUNNABLE: it kept its pCPU
    expect(r.scheduledIn).toBe(0);
    expect(r.p).toBe(40_000);
  });
});

describe('HaltPath against the reference’s checkable facts', () => {
  it('fact 2: from a zero window, a 50 µs block polls nothing and grows the window to grow_start', () => {
    const h = haltHarness({ params: V611 });
    const r = h.halt(50_000);
    expect(measured(r, expected('no poll', 0, 50_000))).toEqual(expected('no poll', 0, 50_000));
    expect(r.states).toEqual([BLOCKED, RUNNABLE]);
    expect(r.p).toBe(10_000);
  });

  it('fact 3: a wake 50 µs into an 80 µs window is a success: success_ns += ~50 µs, no wait, no halt_wakeup, window kept', () => {
    const h = haltHarness({ params: V611 });
    h.setWindow(80_000);
    const r = h.halt(50_000);
    expect(measured(r, expected('S', 80_000, 50_000))).toEqual(expected('S', 80_000, 50_000));
    expect(r.states).toEqual([POLLING]);
    expect(r.scheduledIn).toBe(0);
    expect(r.p).toBe(80_000);
  });

  it('fact 4: a grown window is not clamped when it grows, but at the next halt’s entry: that halt polls only max', () => {
    const h = haltHarness({ params: V611 });
    h.setWindow(160_000);
    expect(h.halt(190_000).p).toBe(320_000);
    const r = h.halt(1_000_000);
    expect(measured(r, expected('F', 200_000, 1_000_000))).toEqual(expected('F', 200_000, 1_000_000));
    expect(r.p).toBe(100_000); // shrunk from the clamped 200000, not from 320000
  });

  it('fact 4: a window above a lowered halt_poll_ns is clamped at entry even when the halt then succeeds', () => {
    const h = haltHarness({ params: V611 });
    h.setWindow(200_000);
    writeKvmParams(h.kvm, { halt_poll_ns: 50_000 }); // the module parameter, re-read on every halt
    const r = h.halt(40_000);
    expect(measured(r, expected('S', 50_000, 40_000))).toEqual(expected('S', 50_000, 40_000));
    expect(r.p).toBe(50_000);
  });

  it('fact 6: shrinking by 2 on blocks over max goes 100000, 50000, 25000, 12500, 0, each halt polling its whole window', () => {
    const h = haltHarness({ params: V611 });
    h.setWindow(200_000);
    const windows = [200_000, 100_000, 50_000, 25_000, 12_500];
    const got = windows.map((p) => {
      const r = h.halt(1_000_000);
      return { fail_ns: near(r.delta.halt_poll_fail_ns, p), p: r.p };
    });
    expect(got).toEqual([
      { fail_ns: 200_000, p: 100_000 },
      { fail_ns: 100_000, p: 50_000 },
      { fail_ns: 50_000, p: 25_000 },
      { fail_ns: 25_000, p: 12_500 },
      { fail_ns: 12_500, p: 0 },
    ]);
  });

  it('fact 7: a zero window stays zero on blocks of max and beyond, and never polls', () => {
    const h = haltHarness({ params: V611 });
    for (const block of [200_000, 1_000_000, 5_000_000]) {
      const r = h.halt(block);
      expect(r.delta.halt_attempted_poll).toBe(0);
      expect(r.p).toBe(0);
    }
  });

  it('fact 8: another task becoming runnable on the pCPU ends the poll at once; the vCPU sleeps and the poll failed', () => {
    const h = haltHarness({ params: V611 });
    h.setWindow(200_000);
    const r = h.halt(50_000, [{ at: 5_000, what: 'other-task' }]);
    // Polled ~5 µs (not until the wake at 50 µs, which a poll ignoring the runqueue would catch), then waited the rest.
    expect(measured(r, expected('F', 5_000, 50_000))).toEqual(expected('F', 5_000, 50_000));
    expect(r.states).toEqual([POLLING, BLOCKED, RUNNABLE]);
    expect(r.scheduledIn).toBe(1);
  });

  it('fact 8: need_resched set on the polling task ends the poll at once too', () => {
    const h = haltHarness({ params: V611 });
    h.setWindow(200_000);
    const r = h.halt(50_000, [{ at: 8_000, what: 'need-resched' }]);
    expect(measured(r, expected('F', 8_000, 50_000))).toEqual(expected('F', 8_000, 50_000));
  });

  it('fact 8: a poll stopped by another task still counts as attempted even when it found nothing to poll for', () => {
    const h = haltHarness({ params: V611 });
    h.setWindow(200_000);
    const r = h.halt(30_000, [{ at: 0, what: 'other-task' }]);
    expect(r.delta.halt_attempted_poll).toBe(1);
    expect(r.delta.halt_successful_poll).toBe(0);
    expect(near(r.delta.halt_wait_ns, 30_000)).toBe(30_000);
    expect(near(r.delta.halt_poll_fail_ns, 0)).toBe(0);
  });

  it('fact 9: a failed poll adds its poll time to halt_poll_fail_ns only, and the time after it to halt_wait_ns only', () => {
    const h = haltHarness({ params: V611 });
    h.setWindow(40_000);
    const r = h.halt(150_000);
    const d = r.delta;
    expect({ fail: near(d.halt_poll_fail_ns, 40_000), wait: near(d.halt_wait_ns, 110_000), success: d.halt_poll_success_ns }).toEqual({ fail: 40_000, wait: 110_000, success: 0 });
    // Together they are the whole halt, counted once.
    expect(near(d.halt_poll_fail_ns + d.halt_wait_ns, 150_000)).toBe(150_000);
    expect(d.halt_poll_fail_hist).toEqual(oneIn(40_000));
    expect(d.halt_wait_hist).toEqual(oneIn(110_000));
  });

  it('fact 10: each histogram has 32 buckets and a 50 µs wait lands in bucket 16', () => {
    const h = haltHarness({ params: V611 });
    const r = h.halt(50_000);
    expect(r.delta.halt_wait_hist).toEqual({ 16: 1 });
    expect(HALT_POLL_HIST_COUNT).toBe(32);
  });

  it('fact 11: a kick while the vCPU polls wakes no sleeper and counts no halt_wakeup; the wake of a sleeper counts one', () => {
    const h = haltHarness({ params: V611 });
    h.setWindow(80_000);
    const polled = h.halt(50_000, [{ at: 10_000, what: 'kick' }, { at: 20_000, what: 'kick' }]);
    expect(polled.delta).toMatchObject({ halt_successful_poll: 1, halt_wakeup: 0 });
    const slept = h.halt(500_000);
    expect(slept.delta).toMatchObject({ halt_successful_poll: 0, halt_wakeup: 1 });
  });

  it('fact 11: two interrupts for one sleeping vCPU wake it once', () => {
    const h = haltHarness({ params: V611 });
    const r = h.halt(500_000, [{ at: 500_000, what: 'irq' }]);
    expect(r.delta.halt_wakeup).toBe(1);
  });

  it('fact 12: KVM_CAP_HALT_POLL sets the VM’s ceiling whatever the global halt_poll_ns, now and after it changes', () => {
    const h = haltHarness({ params: { ...V611, halt_poll_ns: 1_000_000 }, cap: 50_000 });
    h.setWindow(80_000);
    const first = h.halt(60_000);
    // Clamped to the cap at entry; a 60 µs block is over the cap: a failed 50 µs poll, then shrink.
    expect(measured(first, expected('F', 50_000, 60_000))).toEqual(expected('F', 50_000, 60_000));
    expect(first.p).toBe(25_000);
    writeKvmParams(h.kvm, { halt_poll_ns: 0 }); // the global parameter no longer matters to this VM
    const second = h.halt(40_000);
    expect(measured(second, expected('F', 25_000, 40_000))).toEqual(expected('F', 25_000, 40_000));
    expect(second.p).toBe(50_000); // grew, but only to the cap: 25000*2 = 50000, not grown past it at the next entry
    const third = h.halt(45_000);
    expect(measured(third, expected('S', 50_000, 45_000))).toEqual(expected('S', 50_000, 45_000));
  });

  it('fact 12: grow, grow_start and shrink stay the global ones under KVM_CAP_HALT_POLL', () => {
    const h = haltHarness({ params: { ...V611, halt_poll_ns_grow: 4, halt_poll_ns_grow_start: 30_000, halt_poll_ns_shrink: 3 }, cap: 500_000 });
    expect(h.halt(50_000).p).toBe(30_000); // grow_start
    expect(h.halt(50_000).p).toBe(120_000); // ×4
    expect(h.halt(1_000_000).p).toBe(40_000); // ÷3
  });

  it('fact 12: KVM_CAP_HALT_POLL = 0 disables polling for the VM and resets the window to 0 at the next halt', () => {
    const h = haltHarness({ params: V611 });
    h.setWindow(80_000);
    enableCapHaltPoll(h.kvm, 0);
    const r = h.halt(50_000);
    expect(measured(r, expected('no poll', 0, 50_000))).toEqual(expected('no poll', 0, 50_000));
    expect(r.p).toBe(0);
  });

  it('fact 13: with MSR_KVM_POLL_CONTROL cleared the vCPU neither polls nor adapts its window', () => {
    const h = haltHarness({ params: V611 });
    h.setWindow(80_000);
    h.setPollControl(false);
    const short = h.halt(50_000);
    expect(measured(short, expected('no poll', 0, 50_000))).toEqual(expected('no poll', 0, 50_000));
    expect(short.p).toBe(80_000); // no grow, no sweet spot
    expect(h.halt(1_000_000).p).toBe(80_000); // no shrink
    h.setPollControl(true);
    expect(h.halt(50_000).delta.halt_successful_poll).toBe(1);
  });

  it('Linux 4.0 (no adaptive window): every halt polls the whole halt_poll_ns and the window never changes', () => {
    const h = haltHarness({ params: { ...V611, halt_poll_ns: 2_000_000 }, fixedWindow: true });
    const long = h.halt(10_000_000);
    expect(measured(long, expected('F', 2_000_000, 10_000_000))).toEqual(expected('F', 2_000_000, 10_000_000));
    const short = h.halt(30_000);
    expect(measured(short, expected('S', 2_000_000, 30_000))).toEqual(expected('S', 2_000_000, 30_000));
    expect(short.p).toBe(2_000_000);
  });

  it('a VMM signal during the poll ends it as a success: kvm_vcpu_check_block sees signal_pending', () => {
    const h = haltHarness({ params: V611 });
    h.setWindow(80_000);
    const r = h.halt(Infinity, [{ at: 30_000, what: 'signal' }]);
    expect(measured(r, expected('S', 80_000, 30_000))).toEqual(expected('S', 80_000, 30_000));
  });

  it('the module parameters are re-read on every halt: a new halt_poll_ns applies from the next halt', () => {
    const h = haltHarness({ params: V611 });
    h.setWindow(160_000);
    writeKvmParams(h.kvm, { halt_poll_ns: 100_000 });
    const r = h.halt(1_000_000);
    expect(near(r.delta.halt_poll_fail_ns, 100_000)).toBe(100_000);
    expect(r.p).toBe(50_000);
  });
});

describe('HaltPath and the LAPIC timer (reference §2.1: the sleeping vCPU’s timer moves to the hrtimer)', () => {
  it('a deadline inside the window fires on the polling vCPU itself: a successful poll, no host timer, no halt_wakeup', () => {
    const h = haltHarness({ params: V611 });
    h.setWindow(80_000);
    h.armTimer(50_000);
    const r = h.halt(Infinity);
    expect(r.delta).toMatchObject({ halt_successful_poll: 1, halt_wakeup: 0, timer_fired_in_guest: 1, timer_fired_by_host: 0 });
    expect(near(r.delta.halt_poll_success_ns, 50_000)).toBe(50_000);
  });

  it('a vCPU whose poll catches another event keeps its timer: the host is never told (kvm_arch_vcpu_blocking is not reached)', () => {
    const h = haltHarness({ params: V611 });
    h.host.set('next_expiry', Infinity);
    h.setWindow(80_000);
    h.armTimer(5_000_000);
    const r = h.halt(30_000);
    expect(r.delta.halt_successful_poll).toBe(1);
    expect(h.vcpu.block.load('timer_mode')).toBe(TIMER.ON_VCPU);
    expect(h.host.load('doorbell')).toBe(0);
    // A vCPU that sleeps arms the hrtimer pinned to its own pCPU: still nothing for the host actor.
    h.halt(200_000);
    expect(h.vcpu.block.load('timer_mode')).toBe(TIMER.ON_VCPU);
    expect(h.host.load('doorbell')).toBe(0);
  });

  it('a deadline past the window moves to the sleeping vCPU’s own hrtimer, which fires it and wakes the vCPU once', () => {
    const h = haltHarness({ params: V611 });
    h.host.set('next_expiry', Infinity);
    h.setWindow(20_000);
    h.armTimer(300_000);
    let modeAsleep = -1;
    h.onSchedule(() => (modeAsleep = h.vcpu.block.load('timer_mode')));
    const r = h.halt(Infinity);
    expect(modeAsleep).toBe(TIMER.ON_SLEEPER);
    expect(measured(r, expected('F', 20_000, 300_000))).toEqual(expected('F', 20_000, 300_000));
    expect(r.delta).toMatchObject({ timer_fired_in_guest: 0, timer_fired_by_host: 1, halt_wakeup: 1 });
    expect(h.hrtimerFired()).toEqual([0]);
    expect(h.vcpu.block.load('timer_mode')).toBe(TIMER.DISARMED);
    expect(h.host.load('doorbell')).toBe(0); // the host actor is never woken for it
  });

  it('with the lazy proposal and a later deadline pending, the expiry re-arms: the host actor takes the timer, so the re-arm wakes no vCPU', () => {
    const h = haltHarness({ params: V611 });
    h.host.set('next_expiry', Infinity);
    h.vcpu.block.store('lazy_tscdeadline', 1); // the guest registered its page
    h.armTimer(300_000); // armed = this deadline
    h.vcpu.block.set('lazy_pending', h.now() + 500_000); // the guest's clockevent asked for a later one, without an exit
    let modeAsleep = -1;
    h.onSchedule(() => (modeAsleep = h.vcpu.block.load('timer_mode')));
    const r = h.halt(Infinity);
    expect(modeAsleep).toBe(TIMER.ON_HOST);
    expect(h.host.load('doorbell')).toBe(1); // the host planned to sleep forever: told to re-plan
    expect(r.delta).toMatchObject({ timer_fired_by_host: 1, halt_wakeup: 1 });
    expect(h.vcpu.stats.load('lazy_tscdeadline_rearms')).toBe(1);
    expect(near(r.delta.halt_wait_ns, 500_000)).toBe(500_000); // woken at the re-armed deadline, not at the first
    expect(h.hrtimerFired()).toEqual([]);
  });

  it('a deadline still armed when another event wakes the sleeper goes back to the vCPU (switch to the hv timer)', () => {
    const h = haltHarness({ params: V611 });
    h.armTimer(5_000_000);
    const r = h.halt(100_000);
    expect(r.delta).toMatchObject({ halt_wakeup: 1, timer_fired_by_host: 0, timer_fired_in_guest: 0 });
    expect(h.vcpu.block.load('timer_mode')).toBe(TIMER.ON_VCPU);
  });
});
