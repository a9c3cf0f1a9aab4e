import { describe, expect, it } from 'vitest';
import type { LatencySummary } from '../../src/actors/histogram.ts';
import {
  DEFERRED_WORK,
  DSYNC_IO,
  FINDINGS,
  IDLE_COST,
  LAZY_TSCDEADLINE,
  MWAIT,
  SIM_LOOP,
  TIMER_LATENCY,
  WFX_TRAP,
  type DeferredFigures,
  type DsyncDevice,
  type DsyncFigures,
  type IdleFigures,
  type LazyFigures,
  type MwaitFigures,
  type MwaitPolicy,
  type SimFigures,
  type TimerFigures,
  type WfxFigures,
  type WfxPolicy,
} from '../../src/findings/findings.ts';
import { judge, REAL_KVM, type KvmPair, type RealKvmFigures, type SideFigures } from '../../src/findings/real-kvm.ts';

// Each finding's verdict is a function of its figures: feed it figures on either side of each
// judgement and the words must follow (the figures printed, the direction, the agreement).

const lat = (p50: number, p90 = p50 * 2, p99 = p50 * 4): LatencySummary => ({ p50, p90, p99, p999: p99 * 2, max: p99 * 3, min: p50 / 2, mean: p50, count: 1000 });

describe('every finding’s verdict follows its figures', () => {
  it('covers every finding', () => {
    expect(FINDINGS.map((f) => f.id)).toEqual(['dsync-io', 'timer-latency', 'idle-cost', 'mwait', 'deferred-work', 'sim-loop', 'wfx-trap', 'lazy-tscdeadline', 'real-kvm']);
  });

  describe('dsync-io', () => {
    const device = (kind: 'file' | 'fast', rps: Record<string, number>, over: Partial<DsyncDevice> = {}): DsyncDevice => ({
      kind,
      rps,
      latency_p50: { 'no-poll': 250_000, poll: 240_000, 'poll-1ms': 160_000, 'guest-idle-poll': 200_000, 'guest-haltpoll': 270_000, 'bare-metal': 60_000 },
      cpu: { 'no-poll': 9, poll: 10, 'poll-1ms': 44, 'guest-idle-poll': 68, 'guest-haltpoll': 15, 'bare-metal': 0 },
      service_p50: 20_050,
      service_p99: 25_000,
      setting_ns: kind === 'fast' ? 20_000 : null,
      block_size: 4096,
      ceiling_ns: 200_000,
      mean_wait_ns: 300_000,
      window_end_ns: 0,
      polls_attempted: 100,
      polls_successful: 3,
      wide: kind === 'fast' ? { ceiling_ns: 1_000_000, mean_wait_ns: 300_000 } : null,
      ...over,
    });
    const rates = (noPoll: number, poll: number, idlePoll: number) => ({ 'no-poll': noPoll, poll, 'poll-1ms': 4_000, 'guest-idle-poll': idlePoll, 'guest-haltpoll': 5_000, 'bare-metal': 20_000 });
    const fig = (file: DsyncDevice, fast: DsyncDevice): DsyncFigures => ({ devices: [file, fast], vcpus: 2, cores: 2 });
    const v = (f: DsyncFigures) => DSYNC_IO.verdict(f);

    it('agrees inside the band, and says polling did not help when it did not', () => {
      const agree = v(fig(device('file', rates(6_000, 12_500, 12_700)), device('fast', rates(6_000, 12_500, 12_700))));
      expect(agree).toContain('On the real disk, polling gave 2.08× the no-polling rate and 98% of idle=poll');
      expect(agree).toContain('This agrees with the claim (band: 1.8-2.4× no polling and 94-104% of idle=poll');
      const none = v(fig(device('file', rates(6_000, 5_500, 2_000)), device('fast', rates(6_000, 5_500, 2_000))));
      expect(none).toContain('This does not agree');
      expect(none).toContain('polling did not help at all');
      expect(none).toContain('idle=poll did worse than host polling here (2,000/s): its 2 vCPU threads spun at 68% of a core each on this machine\'s 2 cores');
      expect(agree).not.toContain('idle=poll did worse');
      const less = v(fig(device('file', rates(6_000, 7_000, 12_700)), device('fast', rates(6_000, 7_000, 12_700))));
      expect(less).toContain('polling helped less than claimed');
    });

    it('says whether the halts outlast the ceiling from their measured wait, and whether the wide ceiling covers it', () => {
      const r = rates(6_000, 5_500, 2_000);
      const long = v(fig(device('file', r), device('fast', r)));
      expect(long).toContain('the halts that slept waited 300 µs on average, longer than KVM\'s 200 µs ceiling');
      expect(long).toContain('With a 1 ms ceiling (`poll-1ms`), which covers the mean wait of 300 µs');
      expect(long).toContain('does not hold in this model');
      const short = v(fig(device('file', r, { mean_wait_ns: 150_000 }), device('fast', r, { mean_wait_ns: 150_000, wide: { ceiling_ns: 100_000, mean_wait_ns: 150_000 } })));
      expect(short).toContain('no longer than KVM\'s 200 µs ceiling');
      expect(short).toContain('which does not cover the mean wait');
      expect(short).toContain('holds in this model');
    });

    it('prints the synthetic device’s measured service time beside its setting, and the VM path’s cost per request', () => {
      const r = rates(6_000, 5_500, 2_000);
      const t = v(fig(device('file', r), device('fast', r)));
      expect(t).toContain('On the synthetic device (set to 20 µs, it served requests in 20.1 µs at p50 and 25.0 µs at p99)');
      expect(t).toContain('a bare-metal request took 60.0 µs (p50) and a VM request without polling 250 µs: the VM path adds 190 µs per request');
      expect(t).toContain('No polling reached 30% of bare metal, no further from it than the RFC\'s 30%');
      const far = v(fig(device('file', r), device('fast', { ...r, 'no-poll': 2_000 })));
      expect(far).toContain('No polling reached 10% of bare metal, further from it than the RFC\'s 30%');
    });

    it('says a wider ceiling made requests quicker but fewer, or neither', () => {
      const r = rates(6_000, 5_500, 2_000);
      expect(v(fig(device('file', r), device('fast', r)))).toContain('each request is quicker, but fewer complete');
      const slower = device('fast', r, { latency_p50: { ...device('fast', r).latency_p50, 'poll-1ms': 400_000 } });
      expect(v(fig(device('file', r), slower))).toContain('requests are not quicker either');
      expect(v(fig(device('file', r), device('fast', { ...r, 'poll-1ms': 9_000 })))).not.toContain('quicker');
    });
  });

  describe('timer-latency', () => {
    const base: TimerFigures = { poll: lat(430, 1_170, 68_500), no_poll: lat(42_500, 74_800, 132_000), hrtimer_no_poll: lat(40_000), exit_cost_ns: 0, lapic_timer_advance: true, advance_ns: 1_000, cores: 2 };
    it('agrees when polling is both faster and steadier, and says which effect is missing otherwise', () => {
      const yes = TIMER_LATENCY.verdict(base);
      expect(yes).toContain('Measured: 0.43 µs vs 42.5 µs at p50');
      expect(yes).toContain('Polling gives both the smaller latency and the smaller spread, as claimed (band:');
      const spread = TIMER_LATENCY.verdict({ ...base, poll: lat(430, 500_000) });
      expect(spread).toContain('This run does not show both effects');
      expect(spread).toContain('the latency is that much smaller and the spread is not smaller');
      const slow = TIMER_LATENCY.verdict({ ...base, poll: lat(30_000, 31_000) });
      expect(slow).toContain('the latency is not that much smaller and the spread is smaller');
    });

    it('places each p50 against the RFC’s range in ns, and prints the p99s and the host timer’s lateness', () => {
      const t = TIMER_LATENCY.verdict(base);
      expect(t).toContain('which makes its figures 2.29 µs-4.00 µs with polling and 5.71 µs-48.0 µs without');
      expect(t).toContain('With polling the model is below the RFC');
      expect(t).toContain('Without polling it is within the RFC’s range');
      expect(t).toContain('40.0 µs late at p50');
      expect(t).toContain('The p99s, 68.5 µs and 132 µs, are this 2-core machine\'s');
      const other = TIMER_LATENCY.verdict({ ...base, poll: lat(3_000, 3_100), no_poll: lat(60_000, 90_000), exit_cost_ns: 1_000, lapic_timer_advance: false });
      expect(other).toContain('With polling the model is within the RFC’s range');
      expect(other).toContain('Without polling it is above the RFC’s range');
      expect(other).toContain('its VM exits cost 1 µs each');
      expect(other).not.toContain('timer advance');
    });
  });

  describe('idle-cost', () => {
    const base: IdleFigures = {
      cpu: { linux: { 'no-poll': 0.1, poll: 0.1, 'always-poll-2ms': 0.5 }, windows: { 'no-poll': 1.1, poll: 1.2, 'always-poll-2ms': 20 } },
      halts: { linux: { 'no-poll': 3, poll: 3, 'always-poll-2ms': 2.6 }, windows: { 'no-poll': 98, poll: 98, 'always-poll-2ms': 98 } },
      tick_ns: { linux: 400_000_000, windows: 10_000_000 },
      fixed_poll_ns: 2_000_000,
      windows_failed_share: 1,
      windows_failed_poll_ns: 2_000_000,
      knee: null,
    };
    it('judges the Linux cost by the claim’s own band, and explains a miss with the RFC’s halts, not the model’s', () => {
      const below = IDLE_COST.verdict(base);
      expect(below).toContain('an idle Linux-like vCPU (a 400 ms tick) cost 0.5% of a core');
      expect(below).toContain('The Linux figure is below the claim (band: the claim\'s 1.5-2.5%)');
      expect(below).toContain('Its guest halted 2.6 times/s per vCPU here, where the RFC describes 2.5');
      expect(below).toContain('at 2.5/s, 2 ms of failed polling per halt is 0.5% of a core');
      expect(below).toContain('takes 7.5-12.5 failed 2 ms polls per second per vCPU');
      const inBand = IDLE_COST.verdict({ ...base, cpu: { ...base.cpu, linux: { ...base.cpu.linux, 'always-poll-2ms': 2 } } });
      expect(inBand).toContain('The Linux figure agrees with the claim (band: the claim\'s 1.5-2.5%)');
      const above = IDLE_COST.verdict({ ...base, cpu: { ...base.cpu, linux: { ...base.cpu.linux, 'always-poll-2ms': 2.6 } } });
      expect(above).toContain('The Linux figure is above the claim');
    });

    it('says whether the adaptive window brings the Windows-like cost down, and where the knee is', () => {
      expect(IDLE_COST.verdict(base)).toContain('brings the Windows-like case down to 1.2%');
      expect(IDLE_COST.verdict(base)).toContain('100% of the halts polled and failed, for 2000 µs each');
      expect(IDLE_COST.verdict(base)).toContain('The sweep shows no knee');
      const worse = IDLE_COST.verdict({ ...base, cpu: { ...base.cpu, windows: { ...base.cpu.windows, poll: 25 } }, knee: { value: 150_000, backend: 'model', cpu_pct_per_vcpu: 90, vcpu_thread_cpu_pct: 90, latency_p50_us: 0.4, latency_p99_us: 60, samples: 100 } });
      expect(worse).toContain('does not bring the Windows-like case down here (25%)');
      expect(worse).toContain('the knee is at halt_poll_ns=150,000');
    });
  });

  describe('mwait', () => {
    const pol = (o: Partial<MwaitPolicy>): MwaitPolicy => ({ busy_pct: 100, handled_per_s: 1_000, p90: 3_000_000, mwait_exits_per_s: 0, yields_per_s: 0, preemptions_per_s: 300, ...o });
    const base: MwaitFigures = {
      vcpus: 2,
      pcpus: 1,
      delta_ns: 1_000_000,
      slice_ns: 3_000_000,
      expected_per_s: 2_000,
      by: {
        poll: pol({ busy_pct: 6, handled_per_s: 1_850 }),
        'guest-mwait': pol({ handled_per_s: 1_100, mwait_exits_per_s: 1_100_000 }),
        'mwait-in-guest': pol({ handled_per_s: 970 }),
        'proposal-mwait-yield': pol({ busy_pct: 99, handled_per_s: 1_900, mwait_exits_per_s: 42_000, yields_per_s: 42_000 }),
      },
    };
    it('holds the claim when the yield does 1.3× the busy loop’s work, and says it did not otherwise', () => {
      const yes = MWAIT.verdict(base);
      expect(yes).toContain('2 vCPUs share 1 pCPU; each re-arms a 1 ms timer, so 2,000 interrupts/s is all the work there is');
      expect(yes).toContain('So the claim holds (band: yield() counts as better than nothing at 1.3× the busy loop\'s interrupts or more)');
      expect(yes).toContain('yield() does 1.73× the busy loop\'s work');
      const no = MWAIT.verdict({ ...base, by: { ...base.by, 'proposal-mwait-yield': pol({ handled_per_s: 1_200 }) } });
      expect(no).toContain('Here yield() did not do much better than the busy loop (1.09× its interrupts; band: 1.3× or more)');
    });

    it('names the timeslice and the preemptions only when the work did not get done, and whether the exits stopped', () => {
      expect(MWAIT.verdict(base)).toContain('the co-runnable vCPU waits for the spinner\'s timeslice (sched_slice_ns 3 ms, 300 preemptions/s)');
      expect(MWAIT.verdict(base)).toContain('stops the exits');
      const done = MWAIT.verdict({ ...base, by: { ...base.by, 'guest-mwait': pol({ handled_per_s: 1_990 }), 'mwait-in-guest': pol({ handled_per_s: 1_990, mwait_exits_per_s: 5 }) } });
      expect(done).toContain('the work still gets done');
      expect(done).toContain('leaves 5 exits/s');
      expect(done).not.toContain('only when the tick preempts it');
    });
  });

  describe('deferred-work', () => {
    const base: DeferredFigures = { wait_p50: { 'workqueue threads': 16_900, 'idle vCPUs only': 381_000, both: 14_700, 'fallback timer only': 17_600_000 }, both_vcpu_share: 0.094, vcpus: 2, item_gap_ns: 100_000, item_ns: 20_000, fallback_ns: 10_000_000 };
    it('supports the design only when the waits are in order and idle vCPUs help', () => {
      expect(DEFERRED_WORK.verdict(base)).toContain('This supports the message’s design (band:');
      expect(DEFERRED_WORK.verdict(base)).toContain('idle vCPUs took 9.4% of the items');
      const unordered = DEFERRED_WORK.verdict({ ...base, wait_p50: { ...base.wait_p50, 'workqueue threads': 500_000 } });
      expect(unordered).toContain('This does not support the message’s design as measured');
      expect(unordered).toContain('the waits are not in that order');
      const idle = DEFERRED_WORK.verdict({ ...base, both_vcpu_share: 0 });
      expect(idle).toContain('idle vCPUs took no items beside the threads');
    });
  });

  describe('sim-loop', () => {
    const base: SimFigures = { arch: 'arm64', work_ns: 50_000, tick_ns: 1_000_000, quantum_ns: 1_000_000, exit_sim_per_wall: 14.75, watchdog_sim_per_wall: 0.92, watchdog_blocked_share: 0.9 };
    it('confirms the message at twice the watchdog’s simulated time per wall second, and not below', () => {
      const yes = SIM_LOOP.verdict(base);
      expect(yes).toContain('An arm64 guest works 50 µs per 1 ms tick');
      expect(yes).toContain('advanced 14.8 s of virtual time per wall second; with only the watchdog 0.92 s');
      expect(yes).toContain('The message’s point is confirmed (band: the exit at least 2×');
      const no = SIM_LOOP.verdict({ ...base, exit_sim_per_wall: 1.5 });
      expect(no).toContain('The exit did not pay off here (band: at least 2× the watchdog\'s simulated time per wall second; measured 1.63×)');
    });
  });

  describe('wfx-trap', () => {
    const p = (o: Partial<WfxPolicy>): WfxPolicy => ({ util_error_points: 4, deep_idle_pct: 58, wake_p50: 134_000, twi_share: 1, util_pct: 30, busy_pct: 25, ...o });
    const base: WfxFigures = {
      shared_shape: '3 vCPUs on 2 pCPUs',
      alone_shape: '2 vCPUs on 2 pCPUs',
      shared: { 'wfx-default': p({}), 'wfx-trap': p({}), 'wfx-notrap': p({ util_error_points: 54, deep_idle_pct: 0, twi_share: 0 }), 'wfx-rq-threshold': p({ util_error_points: 52, deep_idle_pct: 0, twi_share: 0.4 }) },
      alone: { 'wfx-default': p({}), 'wfx-trap': p({ util_error_points: 3.7 }), 'wfx-notrap': p({ util_error_points: 81, deep_idle_pct: 0, twi_share: 0, wake_p50: 3_270, util_pct: 100, busy_pct: 19 }), 'wfx-rq-threshold': p({ util_error_points: 80.8, deep_idle_pct: 0, twi_share: 0, wake_p50: 3_190 }) },
    };
    it('shows each objection from its own figure, and says which are visible', () => {
      const all = WFX_TRAP.verdict(base);
      expect(all).toContain('the threshold proposal trapped WFI at 0.0% of its vcpu_loads and behaves like `notrap`');
      expect(all).toContain('its decision changes with whoever else is queued at each vcpu_load');
      expect(all).toContain('3 of 3 visible here');
      expect(all).toContain('an untrapped WFI misleads PELT (with `notrap`, alone: utilisation 100% for a guest busy 19%; band: over 25 points above counts as misled)');
      expect(all).toContain('never reaches deep idle (0.0% with `notrap`; band: under 1% counts as never)');
      expect(all).toContain('an untrapped WFI wakes faster: 3.27 µs at p50 against 134 µs trapped');
      const none = WFX_TRAP.verdict({
        ...base,
        shared: { ...base.shared, 'wfx-rq-threshold': p({ twi_share: 0 }) },
        alone: { ...base.alone, 'wfx-notrap': p({ util_error_points: 5, deep_idle_pct: 40, wake_p50: 200_000, util_pct: 30, busy_pct: 25 }), 'wfx-rq-threshold': p({ util_error_points: 3.8, twi_share: 0 }) },
      });
      expect(none).toContain('0 of 3 visible here');
      expect(none).toContain('behaves like `trap`');
      expect(none).toContain('the same decision at every vcpu_load');
      expect(none).toContain('does not mislead PELT');
      expect(none).toContain('does not depend on co-scheduling');
      expect(none).toContain('still reaches deep idle');
      expect(none).toContain('wakes no faster');
    });
  });

  describe('lazy-tscdeadline', () => {
    const x = (all: number, msr: number, timer: number, early = 0) => ({ all, msr, timer, early });
    const base: LazyFigures = {
      event_ns: 20_000,
      timeout_ns: 1_000_000,
      short_timeout_ns: 100_000,
      exits: { mainline: x(46_000, 45_000, 1), lazy: x(2_400, 900, 600), 'mainline, short timeout': x(83_000, 81_000, 7), 'lazy, short timeout': x(23_000, 1_700, 19_800) },
      violations: 0,
    };
    it('says the exits were cut, the worst case seen, and nothing early, each from its figures', () => {
      const t = LAZY_TSCDEADLINE.verdict(base);
      expect(t).toContain('(1 ms ahead, 20 µs apart), the proposal cut exits: 46,000/s on mainline, 2,400/s with it');
      expect(t).toContain('With a 100 µs timeout, the pending deadline keeps expiring before the next push');
      expect(t).toContain('the worst case the reviewers named');
      expect(t).toContain('No interrupt was early, spurious or lost in any run');
      const flipped = LAZY_TSCDEADLINE.verdict({ ...base, exits: { ...base.exits, lazy: x(50_000, 45_000, 1, 3), 'lazy, short timeout': x(83_000, 81_000, 7) }, violations: 2 });
      expect(flipped).toContain('the proposal did not cut exits');
      expect(flipped).toContain('MSR-write exits did not turn into preemption-timer exits');
      expect(flipped).not.toContain('worst case');
      expect(flipped).toContain('3 interrupts were early and 2 invariants were broken');
    });
  });

  describe('real-kvm', () => {
    const side = (p50: number, over: Partial<SideFigures> = {}): SideFigures => ({ p50, p99: p50 * 3, halts: 1000, attempted: 1000, successful: 900, cpu_pct: 30, polling_pct: 25, guest_pct: 1, mean_wait_ns: 150_000, ...over });
    const pair = (model: SideFigures, kvm: SideFigures): KvmPair => ({ model, kvm });
    const slept = { attempted: 0, successful: 0, cpu_pct: 3, polling_pct: 0 };
    const base: RealKvmFigures = {
      timer: { poll: pair(side(8_000), side(12_000)), 'no-poll': pair(side(30_000, slept), side(27_000, slept)) },
      irq: { 'poll-1ms': pair(side(2_000), side(2_900)), poll: pair(side(20_000, { successful: 150 }), side(33_000, { successful: 140 })), 'no-poll': pair(side(20_000, slept), side(33_000, slept)) },
      idle: { poll: pair(side(50_000, { cpu_pct: 4, successful: 0 }), side(60_000, { cpu_pct: 5, successful: 0 })), 'no-poll': pair(side(50_000, slept), side(60_000, slept)) },
      timer_delta_ns: 100_000,
      gap_ns: 200_000,
      jitter: 0.5,
      tick_ns: 10_000_000,
      ceiling_ns: { poll: 200_000, 'poll-1ms': 1_000_000 },
      host: { vendor_module: 'kvm_pvm', kernel: '6.18.44', module_halt_poll_ns: 200_000, machine_busy_pct: 5, guest_handler_p50_ns: 4_000 },
    };
    const v = (f: RealKvmFigures) => REAL_KVM.verdict(f);

    it('says where polling cuts the latency, on each backend, from the figures', () => {
      const t = v(base);
      expect(t).toContain("On the timer's lateness, `poll` against `no-poll` cuts it on both (model 30.0 µs → 8.00 µs, real KVM 27.0 µs → 12.0 µs at p50)");
      expect(t).toContain("on a device interrupt's wake, `poll-1ms` against `no-poll` cuts it on both");
      expect(t).toContain("KVM's adaptive window under `poll` (ceiling 200 µs in the model, the module's halt_poll_ns 200 µs on real KVM) on gaps of 200 µs ± 50%: 15% of the model's 1000 polls caught their wake, 14% of real KVM's 1000 polls caught their wake");
      const never = v({ ...base, irq: { ...base.irq, poll: pair(base.irq.poll.model, side(33_000, { attempted: 0, successful: 0 })) } });
      expect(never).toContain('real KVM never polled (its window stayed at 0)');
      expect(t).toContain('28 of 28 figures agree');
      const flipped = v({ ...base, timer: { ...base.timer, poll: pair(side(8_000), side(40_000)) } });
      expect(flipped).toContain('cuts it on the model only');
      expect(flipped).not.toContain('28 of 28 figures agree');
    });

    it('states each disagreement with its ratio and a reason chosen by the measured figures', () => {
      // A polled wake slower on real KVM: the guest's own path, with its handler's cost.
      const polled = v({ ...base, irq: { ...base.irq, 'poll-1ms': pair(side(2_000), side(9_000)) } });
      expect(polled).toContain('irq-wake poll-1ms, latency p50 (4.50×): most of these wakes were caught by KVM\'s poll, so the gap is the guest\'s own path: its handler takes 4.00 µs at p50');
      expect(polled).toContain('kvm_pvm emulates every guest instruction');
      // A slept wake slower on real KVM: the host's wake of the thread, measured on both.
      const slow = v({ ...base, irq: { ...base.irq, 'no-poll': pair(side(10_000, slept), side(33_000, slept)) } });
      expect(slow).toContain('irq-wake no-poll, latency p50 (3.30×): a halt that slept ends with the host waking the vCPU thread, which costs 30.1 µs more than a polled wake on real KVM here');
      expect(slow).toContain('and 8.00 µs in the model; this KVM runs nested');
      expect(v({ ...base, host: { ...base.host, vendor_module: 'kvm_intel' }, irq: { ...base.irq, 'no-poll': pair(side(10_000, slept), side(33_000, slept)) } })).not.toContain('nested');
      // A sleeping timer slower in the model: its thread's timed wait is as late as the machine's timer wakeups.
      const model = v({ ...base, timer: { ...base.timer, 'no-poll': pair(side(90_000, slept), side(27_000, slept)) } });
      expect(model).toContain('timer-latency no-poll, latency p50 (0.30×): the model fires a sleeping vCPU’s timer when its thread’s timed wait ends');
    });

    it('explains the window by the machine’s load or the halts’ lengths, whichever the figures show', () => {
      const fewer = { ...base, irq: { ...base.irq, poll: pair(side(20_000, { successful: 600 }), side(33_000, { successful: 140 })) } };
      expect(v(fewer)).toContain('irq-wake poll, successful polls');
      expect(v(fewer)).toContain('the two windows grew and shrank differently');
      expect(v({ ...fewer, host: { ...fewer.host, machine_busy_pct: 40 } })).toContain('single_task_running()), and the machine was up to 40% busy');
      const longer = { ...fewer, irq: { ...fewer.irq, poll: pair(fewer.irq.poll.model, side(33_000, { successful: 140, mean_wait_ns: 400_000 })) } };
      expect(v(longer)).toContain('halts that slept lasted longer on real KVM (mean wait 400 µs against 150 µs)');
    });

    it('explains a CPU gap by the time polling, and by guest time when polling does not account for it', () => {
      const j = judge({ ...base, timer: { ...base.timer, poll: pair(side(8_000), side(12_000, { cpu_pct: 90, polling_pct: 30, guest_pct: 55 })) } }, 'timer', 'poll');
      expect(j.cpu.agrees).toBe(false);
      expect(j.cpu.why).toBe('the vCPU polled 30% of the wall time on real KVM and 25% in the model and spent 55% in KVM_RUN outside halts (guest code, exits handled in the kernel) against 1.0%');
      const model = judge({ ...base, idle: { ...base.idle, poll: pair(side(50_000, { cpu_pct: 32, polling_pct: 0 }), side(60_000, { cpu_pct: 6, polling_pct: 0 })) } }, 'idle', 'poll');
      expect(model.cpu.why).toBe("the vCPU polled 0.0% of the wall time on real KVM and 0.0% in the model and the model's vCPU thread spent 32% of a core outside polling (its guest interpreter and its wait and wake plumbing) against 6.0% on real KVM");
      // Within 5 points, a low figure agrees whatever the ratio.
      expect(judge(base, 'idle', 'poll').cpu.agrees).toBe(true);
    });
  });
});

