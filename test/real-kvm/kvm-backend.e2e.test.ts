import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../src/scenarios/schema.ts';
import { probeHostKvm, verdict } from '../../src/real-kvm/host-kvm.ts';
import { KvmRun } from '../../src/real-kvm/run.ts';
import { kvmRunViolations } from '../../src/real-kvm/invariants.ts';
import type { KvmRunResult } from '../../src/host/results.ts';

// haltlab's scenarios on this machine's /dev/kvm. They run wherever /dev/kvm is usable (CI here
// runs as root and has it) and say why not elsewhere. They assert behaviour, not speed: a nested
// or emulated KVM is slow, and its figures are the machine's.

const host = probeHostKvm();
const why = host.usable ? '' : ` (not run here: ${verdict(host)})`;
const kvm = describe.skipIf(!host.usable);

const fds = () => readdirSync('/proc/self/fd').length;
const threads = () => readdirSync('/proc/self/task').length;

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** Until the guests have run this long (starting threads takes seconds on an emulated machine). */
async function runningFor(r: KvmRun, s: number): Promise<void> {
  while (r.elapsedS() < s) await sleep(20);
}

async function run(input: object, opts: { abortAfterS?: number; during?: (r: KvmRun) => Promise<void> } = {}): Promise<KvmRunResult> {
  const s = parseScenario({ duration_s: 2, vm: { vcpus: 1 }, ...input });
  const r = new KvmRun(s);
  const ac = new AbortController();
  const done = r.run({ signal: ac.signal });
  if (opts.abortAfterS !== undefined) void runningFor(r, opts.abortAfterS).then(() => ac.abort());
  await opts.during?.(r);
  return done;
}

const expectClean = (r: KvmRunResult) => expect(kvmRunViolations(r)).toEqual([]);

kvm(`the kvm backend on /dev/kvm${why}`, () => {
  it('timer-latency: the guest’s TSC-deadline timer wakes it, never early; KVM’s halt statistics by name', { timeout: 120_000 }, async () => {
    const r = await run({ workload: { kind: 'timer-latency', delta_ns: 200_000 }, vm: { vcpus: 2 } });
    expect(r.failure).toBeNull();
    expect(r.status).toBe('completed');
    expect(r.backend).toBe('kvm');
    expect(r.machine.kvm?.tsc_khz).toBeGreaterThan(0);
    for (const v of r.vcpus) {
      expect(v.timer_lateness_ns.count).toBeGreaterThan(10);
      expect(v.stats.halt_exits).toBeGreaterThan(0);
      expect(v.stats).toHaveProperty('halt_wait_hist');
      expect((v.stats.halt_wait_hist as number[]).length).toBe(32);
      expect(v.cpu.thread_cpu_s).toBeGreaterThan(0);
    }
    expectClean(r);
  });

  it('irq-wake: every device interrupt raised through an irqfd is taken once and EOI’d through the resamplefd', { timeout: 120_000 }, async () => {
    const r = await run({ workload: { kind: 'irq-wake', gap_ns: 300_000 }, vm: { vcpus: 2 } });
    expect(r.failure).toBeNull();
    expect(r.status).toBe('completed');
    expect(r.kvm.device_interrupts_raised).toBeGreaterThan(20);
    expect(r.vcpus.every((v) => v.wake_latency_ns.count > 5)).toBe(true);
    expectClean(r);
  });

  it('KVM_CAP_HALT_POLL 0 turns polling off for the VM; a 1 ms cap makes halts poll', { timeout: 120_000 }, async () => {
    const off = await run({ workload: { kind: 'irq-wake', gap_ns: 200_000 }, host: { kvm_cap_halt_poll: 0 } });
    const on = await run({ workload: { kind: 'irq-wake', gap_ns: 200_000 }, host: { kvm_cap_halt_poll: 1_000_000 } });
    expect(off.kvm.halt_poll_cap_ns).toBe(0);
    expect(off.vcpus[0].stats.halt_attempted_poll).toBe(0);
    expect(off.vcpus[0].stats.halt_exits).toBeGreaterThan(10);
    expect(on.vcpus[0].stats.halt_attempted_poll).toBeGreaterThan(0);
    expectClean(off);
    expectClean(on);
  });

  it('pause holds the device and the vCPUs in the VMM; resume goes on', { timeout: 120_000 }, async () => {
    let during = -1;
    const r = await run({ workload: { kind: 'irq-wake', gap_ns: 200_000 }, duration_s: 3 }, {
      during: async (k) => {
        await runningFor(k, 1);
        k.pause();
        await sleep(200); // an interrupt in flight lands
        const before = k.stats()[0].irq_injections;
        await sleep(500);
        during = k.stats()[0].irq_injections - before;
        k.resume();
      },
    });
    expect(r.failure).toBeNull();
    expect(r.status).toBe('completed');
    expect(during).toBe(0);
    expect(r.kvm.device_interrupts_raised).toBeGreaterThan(10);
    expect(r.vcpus[0].cpu.state_s.paused).toBeGreaterThan(0.4);
    expectClean(r);
  });

  it('an interrupted run keeps its results and leaves no fd, mapping or thread behind', { timeout: 120_000 }, async () => {
    await run({ workload: { kind: 'timer-latency' }, duration_s: 0.5 }); // load every module first
    const [fd0, t0] = [fds(), threads()];
    const r = await run({ workload: { kind: 'mixed', delta_ns: 500_000, gap_ns: 300_000 }, vm: { vcpus: 2 }, duration_s: 30 }, { abortAfterS: 1 });
    expect(r.status).toBe('interrupted');
    expect(r.total.wake_latency_ns.count).toBeGreaterThan(0);
    expect(fds()).toBe(fd0);
    expect(threads()).toBe(t0);
  });

  it('a vCPU thread that throws stops the run with its reason, keeps the others’ results, and releases the VM', { timeout: 120_000 }, async () => {
    const fd0 = fds();
    const s = parseScenario({ duration_s: 10, vm: { vcpus: 2 }, workload: { kind: 'timer-latency' } });
    const r = await new KvmRun(s).run({ faults: [{ kind: 'throw', actor: 'vcpu1', at_s: 0.8 }] });
    expect(r.status).toBe('failed');
    expect(r.failure?.message).toMatch(/injected fault: vcpu1 threw/);
    expect(r.wall_s).toBeLessThan(8);
    expect(r.vcpus[0].timer_lateness_ns.count).toBeGreaterThan(0);
    expect(fds()).toBe(fd0);
  });
});
