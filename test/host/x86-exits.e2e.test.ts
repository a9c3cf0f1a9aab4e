import { describe, expect, it } from 'vitest';
import { createVm } from '../../src/host/vm.ts';
import { parseScenario, type ScenarioInput } from '../../src/scenarios/schema.ts';
import type { RunResult } from '../../src/host/results.ts';
import { expectCompleted } from './invariants.ts';
import { compareRows } from '../../src/cli/compare.ts';

// The x86 HLT/MWAIT exit family on real threads, short runs: invariants (every timer and device
// interrupt delivered once, none lost or early, statistics that add up) and effects with wide
// margins only.

const run = (s: ScenarioInput): Promise<RunResult> => createVm(parseScenario({ duration_s: 0.8, ...s })).run();
const mixed = { kind: 'mixed', delta_ns: 200_000, gap_ns: 100_000 } as const;

describe('HLT in guest (KVM_X86_DISABLE_EXITS_HLT)', () => {
  it('never exits on HLT, keeps its pCPU while idle, and takes interrupts posted, none lost', async () => {
    const r = await run({ vm: { vcpus: 2 }, host: { kvm_cap_x86_disable_exits: { hlt: true } }, workload: mixed });
    expectCompleted(r);
    for (const v of r.vcpus) {
      expect(v.stats).toMatchObject({ halt_exits: 0, halt_attempted_poll: 0, halt_wakeup: 0 });
      expect(v.exit_reasons.HLT).toBe(0);
      expect(v.model.hlt_in_guest).toBeGreaterThan(100);
      expect(v.model.posted_interrupts).toBeGreaterThan(10);
      expect(v.model.device_interrupts_injected).toBeGreaterThan(10);
      expect(v.cpu.state_s.native_idle).toBeGreaterThan(0.3 * v.cpu.wall_s);
      expect(v.cpu.state_s.blocked).toBe(0);
    }
    // An idle vCPU that halts in guest mode does not give its pCPU back.
    for (const busy of r.host.pcpu_busy_pct) expect(busy).toBeGreaterThan(80);
    // compare's rows count posted interrupts as delivered, and show where the idle time went.
    const row = (metric: string) => compareRows(r.scenario, [r]).find((x) => x.metric === metric)!.values[0]!;
    // Device interrupts are posted; the vCPU's own timer comes through its preemption-timer exit.
    expect(row('of which posted (no exit)')).toBeGreaterThan(0.2 * row('interrupts delivered'));
    expect(row('of which posted (no exit)')).toBeLessThan(row('interrupts delivered'));
    expect(row('HLT/MWAIT in guest (native_idle)')).toBeGreaterThan(30);
    expect(row('KVM_EXIT_HLT to the VMM')).toBe(0);
  });
});

describe('MWAIT idle', () => {
  it('intercepted: a busy loop through MONITOR/MWAIT exits, near a full core, never blocking', async () => {
    const r = await run({ vm: { vcpus: 1 }, guest: { idle: 'mwait' }, workload: { kind: 'irq-wake' } });
    expectCompleted(r);
    const v = r.vcpus[0];
    expect(v.exit_reasons.MWAIT_INSTRUCTION).toBeGreaterThan(10_000);
    expect(Math.abs(v.exit_reasons.MONITOR_INSTRUCTION - v.exit_reasons.MWAIT_INSTRUCTION)).toBeLessThanOrEqual(1);
    expect(v.stats).toMatchObject({ halt_exits: 0, halt_attempted_poll: 0 });
    expect(v.model.mwait_in_guest).toBe(0);
    expect(v.cpu.state_s.native_idle + v.cpu.state_s.blocked).toBe(0);
    // It never sleeps (a wall-time fact), and so burns what CPU the machine gives it (loosely: the
    // machine's 2 cores are shared with other threads).
    expect(v.cpu.state_s.guest + v.cpu.state_s.host).toBeGreaterThan(0.8 * v.cpu.wall_s);
    expect(v.cpu.host_cpu_pct).toBeGreaterThan(30);
    expect(v.model.device_interrupts_injected).toBeGreaterThan(10);
  });

  it('in guest (KVM_X86_DISABLE_EXITS_MWAIT): no MWAIT exits, the timer as the host hrtimer, interrupts posted', async () => {
    const r = await run({ vm: { vcpus: 2 }, guest: { idle: 'mwait' }, host: { kvm_cap_x86_disable_exits: { mwait: true } }, workload: mixed });
    expectCompleted(r);
    for (const v of r.vcpus) {
      expect(v.exit_reasons.MWAIT_INSTRUCTION + v.exit_reasons.MONITOR_INSTRUCTION + v.exit_reasons.PREEMPTION_TIMER).toBe(0);
      expect(v.exit_reasons.EXTERNAL_INTERRUPT).toBeGreaterThan(100); // the deadline, without the preemption timer
      expect(v.model.mwait_in_guest).toBeGreaterThan(100);
      expect(v.model.posted_interrupts).toBeGreaterThan(10);
      expect(v.cpu.state_s.native_idle).toBeGreaterThan(0.3 * v.cpu.wall_s);
    }
  });
});

describe('userspace irqchip', () => {
  // Timers and device interrupts in separate runs: a guest with both exposes a race in
  // hostTimerExpire that predates this work (see the report).
  it('every HLT returns KVM_EXIT_HLT and the VMM waits itself; the host thread fires its timers; KVM never polls', async () => {
    const r = await run({ vm: { vcpus: 2 }, host: { irqchip: 'userspace' }, workload: { kind: 'timer-latency', delta_ns: 200_000 } });
    expectCompleted(r);
    for (const v of r.vcpus) {
      expect(v.stats.halt_exits).toBeGreaterThan(100);
      expect(v.model.kvm_exit_hlt).toBe(v.stats.halt_exits);
      expect(v.stats).toMatchObject({ halt_attempted_poll: 0, halt_wakeup: 0 });
      expect(v.cpu.state_s.vmm_halted).toBeGreaterThan(0.2 * v.cpu.wall_s);
      expect(v.cpu.state_s.blocked).toBe(0);
      expect(v.model.timer_fired_by_host).toBeGreaterThan(100); // the VMM's sleep left the APIC timer to the host thread
    }
  });

  it('a device interrupt wakes the VMM’s halt wait (the halt_cond broadcast), none lost', async () => {
    const r = await run({ vm: { vcpus: 2 }, host: { irqchip: 'userspace' }, workload: { kind: 'irq-wake', gap_ns: 100_000 } });
    expectCompleted(r);
    for (const v of r.vcpus) {
      expect(v.model.kvm_exit_hlt).toBe(v.stats.halt_exits);
      expect(v.model.device_interrupts_injected).toBeGreaterThan(100);
      expect(v.cpu.state_s.vmm_halted).toBeGreaterThan(0.2 * v.cpu.wall_s);
    }
  });
});

describe('PROPOSAL: userspace exit on HLT and MWAIT, else yield on MWAIT (2023 RFC)', () => {
  it('HLT exits to the VMM when it halts, and the re-entry blocks in KVM', async () => {
    const r = await run({ vm: { vcpus: 2 }, host: { proposals: { userspace_exit: { hlt: true } } }, workload: { kind: 'irq-wake', gap_ns: 100_000 } });
    expectCompleted(r);
    for (const v of r.vcpus) {
      expect(v.stats.halt_exits as number).toBeGreaterThan(100);
      expect(v.model.kvm_exit_hlt).toBeGreaterThan(0.5 * (v.stats.halt_exits as number));
      expect(v.model.kvm_exit_hlt).toBeLessThanOrEqual(v.stats.halt_exits as number);
      expect(v.stats.halt_wakeup as number).toBeGreaterThan(0); // it did block in kvm_vcpu_block after re-entry
    }
  });

  it('an intercepted MWAIT exits to the VMM once per MWAIT exit', async () => {
    const r = await run({ vm: { vcpus: 1 }, guest: { idle: 'mwait' }, host: { proposals: { userspace_exit: { mwait: true } } }, workload: { kind: 'irq-wake' } });
    expectCompleted(r);
    const v = r.vcpus[0];
    expect(v.exit_reasons.MWAIT_INSTRUCTION).toBeGreaterThan(1000);
    expect(v.model.kvm_exit_mwait).toBe(v.exit_reasons.MWAIT_INSTRUCTION);
  });

  it('the MWAIT yield hands the pCPU to a waiting vCPU: two MWAIT idlers on one pCPU need no tick preemption', async () => {
    const base = { vm: { vcpus: 2 }, host: { pcpus: 1 }, guest: { idle: 'mwait' }, workload: { kind: 'timer-latency', delta_ns: 1_000_000 } } as const;
    const spin = await run(base);
    const yielding = await run({ ...base, host: { pcpus: 1, proposals: { userspace_exit: { mwait_yield: true } } } });
    expectCompleted(spin);
    expectCompleted(yielding);
    // Without the yield, each MWAIT spinner holds the pCPU until its timeslice ends.
    expect(spin.host.preemptions).toBeGreaterThan(30);
    expect(yielding.host.preemptions).toBeLessThan(0.25 * spin.host.preemptions);
    for (const v of yielding.vcpus) {
      expect(v.model.mwait_yields).toBeGreaterThan(1000);
      expect(v.model.mwait_yields).toBe(v.exit_reasons.MWAIT_INSTRUCTION);
    }
  });
});
