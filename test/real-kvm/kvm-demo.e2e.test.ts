import { describe, expect, it } from 'vitest';
import { DemoSession } from '../../src/demo/session.ts';
import { LiveSampler } from '../../src/demo/telemetry.ts';
import { probeHostKvm, verdict } from '../../src/real-kvm/host-kvm.ts';

// The live demo on real KVM: the same session and frames as on the model, read from KVM's stats
// fds and the guest's samples; halt_poll_ns changes the running VM through KVM_CAP_HALT_POLL, the
// knobs a VMM cannot set are refused, pause holds it. (The page itself is the model's, tested in
// test/demo; this drives what it is fed.)

const host = probeHostKvm();
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

describe.skipIf(!host.usable)(`demo --backend kvm${host.usable ? '' : ` (not run here: ${verdict(host)})`}`, () => {
  it('frames move, halt_poll_ns=0 stops the polls live, module parameters and other idle loops are refused, pause holds it', { timeout: 120_000 }, async () => {
    const s = new DemoSession({ workload: { kind: 'irq-wake', gap_ns: 200_000 }, vm: { vcpus: 1 }, host: { kvm_cap_halt_poll: 1_000_000 } }, () => {}, [], 'kvm');
    s.start();
    try {
      await s.running;
      const sampler = new LiveSampler(s.vm!, 20);
      sampler.sample();
      await sleep(1500);
      const f = sampler.sample();
      expect(f.backend).toBe('kvm');
      expect(f.vcpus[0].halt_exits).toBeGreaterThan(0);
      expect(f.vcpus[0].halt_poll_ns).toBeNull();
      expect(f.wake.count).toBeGreaterThan(0);
      expect(f.threads.map((t) => t.name)).toEqual(['vcpu0', 'iothread0']);
      const vcpu = f.threads[0];
      expect(vcpu.share.reduce((a, x) => a + x, 0)).toBeLessThanOrEqual(1.05);
      expect(vcpu.cpu_pct).toBeGreaterThan(0);

      expect(await s.control({ kind: 'kvm_param', name: 'halt_poll_ns', value: 0 })).toMatchObject({ ok: true, effect: 'live' });
      await sleep(300);
      const before = sampler.sample().vcpus[0];
      await sleep(1000);
      const after = sampler.sample().vcpus[0];
      expect(after.halt_exits).toBeGreaterThan(before.halt_exits);
      expect(after.halt_attempted_poll).toBe(before.halt_attempted_poll);

      const grow = await s.control({ kind: 'kvm_param', name: 'halt_poll_ns_grow', value: 4 });
      expect(grow.ok).toBe(false);
      if (!grow.ok) expect(grow.error).toMatch(/halt_poll_ns_grow.*module parameter/);
      const idle = await s.control({ kind: 'guest_idle', value: 'poll' });
      expect(idle.ok).toBe(false);

      expect(await s.control({ kind: 'pause' })).toMatchObject({ ok: true });
      await sleep(300);
      const p0 = sampler.sample().vcpus[0].irq_injections;
      await sleep(500);
      const paused = sampler.sample();
      expect(paused.paused).toBe(true);
      expect(paused.vcpus[0].irq_injections).toBe(p0);
      expect(await s.control({ kind: 'resume' })).toMatchObject({ ok: true });
    } finally {
      const r = await s.stop();
      expect(r?.backend).toBe('kvm');
      expect(s.summary().segments.length).toBe(2); // the boot, then halt_poll_ns=0
    }
  });
});
