import { describe, expect, it } from 'vitest';
import { DemoSession } from '../../src/demo/session.ts';
import { LiveSampler } from '../../src/demo/telemetry.ts';
import { ControlError, controlOverrides } from '../../src/demo/controls.ts';
import { liveBucket, liveBucketLow, livePercentile, LIVE_BUCKETS } from '../../src/actors/live-histogram.ts';
import { parseFault } from '../../src/host/faults.ts';
import type { AnyRunResult as RunResult } from '../../src/host/results.ts';
import { RUN_STATE_NAMES } from '../../src/host/thread-state.ts';

// The demo's VM session and its live view, without a browser: controls, reboots, pause, frames.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('live histogram', () => {
  it('puts a value in the bucket whose bounds hold it, and reads percentiles back within a bucket', () => {
    for (const ns of [1, 7, 100, 999, 12_345, 1e6, 2e9]) {
      const b = liveBucket(ns);
      expect(liveBucketLow(b)).toBeLessThanOrEqual(ns);
      expect(ns).toBeLessThan(b === LIVE_BUCKETS - 1 ? Infinity : liveBucketLow(b + 1));
    }
    const counts = new Float64Array(LIVE_BUCKETS);
    for (let i = 1; i <= 100; i++) counts[liveBucket(i * 1000)]++; // 1..100 µs
    expect(livePercentile(counts, 50) / 50_000).toBeGreaterThan(0.9);
    expect(livePercentile(counts, 50) / 50_000).toBeLessThan(1.1);
    expect(livePercentile(new Float64Array(LIVE_BUCKETS), 50)).toBe(0);
  });
});

describe('demo controls', () => {
  it('refuse an interval for a workload that has none', () => {
    expect(() => controlOverrides({ kind: 'interval_us', value: 50 }, { workload: { kind: 'dsync-io' } })).toThrow(ControlError);
    expect(controlOverrides({ kind: 'interval_us', value: 50 }, { workload: { kind: 'irq-wake' } })).toMatchObject([{ knob: 'gap_ns', value: 50_000 }]);
  });
});

describe('the demo session', () => {
  it('applies host knobs in place, refuses bad controls, reboots for guest ones, pauses, and samples frames', async () => {
    const ended: RunResult[] = [];
    const s = new DemoSession({ workload: { kind: 'timer-latency' }, vm: { vcpus: 2 } }, (r) => ended.push(r));
    s.start();
    try {
      await s.running; // the threads are up: every moment from here on is in some state
      const sampler = new LiveSampler(s.vm!, 20);
      await sleep(100);
      sampler.sample();
      await sleep(200);
      const f = sampler.sample();
      expect(f.states).toEqual(RUN_STATE_NAMES);
      for (const t of f.threads.filter((t) => t.kind === 'vcpu')) {
        // Every moment of the interval is in some state: the shares add up to the whole (a torn read aside).
        expect(t.share.reduce((a, b) => a + b, 0)).toBeGreaterThan(0.9);
        expect(t.share.reduce((a, b) => a + b, 0)).toBeLessThan(1.1);
        expect(t.cpu_pct).toBeGreaterThan(0);
      }
      expect(f.wake.count).toBeGreaterThan(0);
      expect(f.vcpus[0].halt_exits).toBeGreaterThan(0);

      // Bad messages: each refused with a reason, nothing changed.
      for (const bad of [
        { kind: 'kvm_param', name: 'halt_poll_ns', value: -1 },
        { kind: 'kvm_param', name: 'halt_poll_ns', value: 'fast' },
        { kind: 'kvm_param', name: 'halt_poll_ns' },
        { kind: 'kvm_param', name: 'no_such_param', value: 1 },
        { kind: 'guest_idle', value: 'mwait-please' },
        { kind: 'interval_us', value: 0 },
        { kind: 'launch_missiles' },
        'halt_poll_ns=0',
      ]) {
        const a = await s.control(bad);
        expect(a.ok, JSON.stringify(bad)).toBe(false);
      }
      expect(s.config.host.kvm.halt_poll_ns).toBeUndefined();
      expect(s.boots).toBe(1);

      // A host knob: in place, seen by the vCPUs (no halt polls any more).
      const vm = s.vm!;
      expect(await s.control({ kind: 'kvm_param', name: 'halt_poll_ns', value: 0 })).toMatchObject({ ok: true, effect: 'live' });
      expect(s.vm).toBe(vm);
      await sleep(100);
      const before = sampler.sample().vcpus.map((v) => v.halt_attempted_poll);
      await sleep(200);
      const after = sampler.sample().vcpus;
      after.forEach((v, i) => expect(v.halt_attempted_poll).toBe(before[i]));
      expect(after.every((v) => v.halt_poll_ns === 0)).toBe(true);

      // Pause: no interrupt reaches the guest until resumed.
      await s.control({ kind: 'pause' });
      await sleep(100);
      const held = sampler.sample().vcpus.map((v) => v.irq_injections);
      await sleep(200);
      expect(sampler.sample().vcpus.map((v) => v.irq_injections)).toEqual(held);
      await s.control({ kind: 'resume' });
      await sleep(200);
      expect(sampler.sample().vcpus[0].irq_injections).toBeGreaterThan(held[0]);

      // A guest knob: a new boot with it, the host knobs kept.
      expect(await s.control({ kind: 'guest_idle', value: 'poll' })).toMatchObject({ ok: true, effect: 'reboot' });
      expect(s.boots).toBe(2);
      expect(s.vm).not.toBe(vm);
      expect(s.vm!.scenario.guest.idle).toBe('poll');
      expect(s.vm!.scenario.host.kvm.halt_poll_ns).toBe(0);
    } catch (e) {
      await s.stop();
      throw e;
    }
    const r = await s.stop();
    expect(r?.status).toBe('interrupted');
    expect(r?.scenario.guest.idle).toBe('poll');
    expect(ended).toEqual([]); // stopped when asked, never on its own
  });

  it('summarises the session one configuration at a time, paused time left out', async () => {
    const s = new DemoSession({ workload: { kind: 'timer-latency' }, vm: { vcpus: 1 } }, () => {});
    s.start();
    try {
      await s.running;
      await sleep(400);
      await s.control({ kind: 'kvm_param', name: 'halt_poll_ns', value: 0 });
      await sleep(300);
      await s.control({ kind: 'pause' });
      await sleep(400);
      await s.control({ kind: 'resume' });
      await sleep(300);
      await s.control({ kind: 'guest_idle', value: 'poll' });
      await s.running;
      await sleep(400);
      const { segments, marks } = s.summary();
      expect(marks.map((m) => m.kind)).toEqual(['knob', 'pause', 'resume', 'reboot']);
      expect(marks.map((m) => m.label)).toEqual(['halt_poll_ns=0', 'pause', 'resume', 'reboot: guest idle=poll']);
      expect(segments.map((g) => [g.segment, g.boot, g.started_by])).toEqual([
        [1, 1, 'boot'],
        [2, 1, 'halt_poll_ns=0'],
        [3, 2, 'reboot: guest idle=poll'],
      ]);
      const [polling, sleeping, idlePoll] = segments;
      // Each segment has its own figures: the default polls; after halt_poll_ns=0 no halt does.
      expect(polling.config.kvm.halt_poll_ns).toBe(200_000);
      expect(polling.halt.halt_attempted_poll_per_s).toBeGreaterThan(0);
      expect(sleeping.config.kvm.halt_poll_ns).toBe(0);
      // (a halt already polling when the knob changed ends in the new segment: one, not thousands)
      expect(sleeping.halt.halt_attempted_poll_per_s * sleeping.running_s).toBeLessThanOrEqual(2);
      expect(polling.halt.halt_attempted_poll_per_s * polling.running_s).toBeGreaterThan(100);
      expect(sleeping.halt.halt_exits_per_s).toBeGreaterThan(0);
      expect(idlePoll.config.guest_idle).toBe('poll');
      expect(idlePoll.halt.halt_exits_per_s).toBe(0); // idle=poll never halts
      // The pause is in no figure: it is the gap between the segment's span and its running time.
      expect(polling.paused_s).toBe(0);
      expect(sleeping.paused_s).toBeGreaterThan(0.3);
      expect(sleeping.running_s).toBeLessThan(sleeping.to_s - sleeping.from_s - 0.3);
      expect(sleeping.running_s + sleeping.paused_s).toBeCloseTo(sleeping.to_s - sleeping.from_s, 1);
      for (const g of segments) expect(g.wake_latency_ns.count).toBeGreaterThan(0);
      // Segments follow one another (a reboot's thread start-up between boots belongs to neither). A knob
      // segment begins as soon as the value is written: only the main thread's own delay lies between.
      expect(sleeping.from_s).toBeGreaterThanOrEqual(polling.to_s);
      expect(sleeping.from_s - polling.to_s).toBeLessThan(0.25);
      expect(idlePoll.from_s).toBeGreaterThanOrEqual(sleeping.to_s);
    } finally {
      await s.stop();
    }
  });

  it('reports a VM that fails on its own, with the reason and the results so far', async () => {
    const ended = new Promise<RunResult>((resolve) => {
      const s = new DemoSession({ workload: { kind: 'timer-latency' }, vm: { vcpus: 2 } }, resolve, [parseFault('throw:vcpu1@0.3')]);
      s.start();
    });
    const r = await ended;
    expect(r.status).toBe('failed');
    expect(r.failure?.actor).toBe('vcpu1');
    expect(r.vcpus.find((v) => v.id === 0)?.stats.halt_exits).toBeGreaterThan(0);
  });
});
