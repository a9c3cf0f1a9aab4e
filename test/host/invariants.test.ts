import { describe, expect, it } from 'vitest';
import { runViolations, vcpuViolations } from '../../src/host/invariants.ts';
import type { RunResult, VcpuResult } from '../../src/host/results.ts';
import { PLE_DEFAULTS } from '../../src/host/kvm/ple.ts';
import { EXIT_REASONS, MODEL_COUNTERS } from '../../src/host/kvm/stats.ts';

// The invariant checker must catch what it claims to: corrupt a good result and see it fail.

const zeroModel = Object.fromEntries(MODEL_COUNTERS.map((c) => [c.name, 0])) as VcpuResult['model'];
const hist = (n: number) => [n, ...Array(31).fill(0)];
function vcpu(over: Partial<Record<string, number>> = {}): VcpuResult {
  const s = { halt_successful_poll: 5, halt_attempted_poll: 8, halt_exits: 10, halt_wakeup: 4, irq_injections: 10, exits: 20, ...over };
  return {
    id: 0,
    stats: {
      ...s,
      halt_poll_invalid: 0,
      halt_poll_success_ns: 1,
      halt_poll_fail_ns: 1,
      halt_wait_ns: 1,
      halt_poll_success_hist: hist(s.halt_successful_poll),
      halt_poll_fail_hist: hist(s.halt_attempted_poll - s.halt_successful_poll),
      halt_wait_hist: hist(4),
      blocking: 0,
      irq_exits: 0,
      signal_exits: 1,
      wfi_exit_stat: 0,
      wfe_exit_stat: 0,
    },
    // Every reason at 0 but these two, whatever reasons the model counts.
    exit_reasons: { ...Object.fromEntries(EXIT_REASONS.map((r) => [r, 0])), HLT: s.halt_exits, MSR_WRITE: s.exits - s.halt_exits } as VcpuResult['exit_reasons'],
    model: { ...zeroModel, halt_calls: s.halt_exits, tsc_deadline_writes: 10, timer_fired_in_guest: 6, timer_fired_by_host: 4, timer_interrupts_injected: 10 },
    halt_poll_ns: 0,
    wake_latency_ns: { p50: 1, p90: 1, p99: 1, p999: 1, max: 1, min: 1, mean: 1, count: s.irq_injections },
    timer_lateness_ns: { p50: 1, p90: 1, p99: 1, p999: 1, max: 1, min: 1, mean: 1, count: 10 },
    timer_early_count: 0,
    cpu: { thread_cpu_s: 1, wall_s: 1, host_cpu_pct: 100, state_s: {} },
  } as VcpuResult;
}

describe('the invariant checker', () => {
  it('passes a consistent vCPU', () => expect(vcpuViolations(vcpu())).toEqual([]));

  it.each([
    ['more successful polls than attempted', { halt_successful_poll: 9 }, 'halt_successful_poll <= halt_attempted_poll'],
    ['exits that do not add up', { exits: 25 }, 'exits by reason'],
  ])('catches %s', (_name, over, invariant) => {
    const v = vcpu();
    Object.assign(v.stats, over);
    expect(vcpuViolations(v).map((x) => x.invariant).join('\n')).toContain(invariant);
  });

  it.each([
    ['polls longer than the time the thread spent polling (a poll counted twice)', { halt_poll_fail_ns: 5e6 }, { polling: 0.001, blocked: 0.001 }, 'time in the polling state'],
    ['a wait shorter than the time the thread spent blocked (a wait counted short)', { halt_wait_ns: 1e6 }, { polling: 0.001, blocked: 0.002 }, 'halt_wait_ns'],
    ['polls and waits longer than the run', { halt_wait_ns: 2e9 }, { polling: 0, blocked: 0.5 }, 'wall time'],
  ])('catches %s', (_name, over, states, invariant) => {
    const v = vcpu();
    Object.assign(v.stats, over);
    v.cpu.state_s = states;
    expect(vcpuViolations(v).map((x) => x.invariant).join('\n')).toContain(invariant);
  });

  it('passes time sums that fit their run states', () => {
    const v = vcpu();
    Object.assign(v.stats, { halt_poll_success_ns: 3e5, halt_poll_fail_ns: 7e5, halt_wait_ns: 2e6 });
    v.cpu.state_s = { polling: 0.0011, blocked: 0.0019, guest: 0.5 };
    expect(vcpuViolations(v)).toEqual([]);
  });

  it('bounds polls by kvm_vcpu_halt() calls, which trapped WFIs make (arm64), and checks WFx exits against their stats', () => {
    const v = vcpu({ halt_exits: 0 });
    v.exit_reasons.HLT = 0;
    v.exit_reasons.MSR_WRITE = 10;
    v.exit_reasons.ESR_ELx_EC_WFx = 10;
    Object.assign(v.stats, { wfi_exit_stat: 10 });
    v.model.halt_calls = 10;
    expect(vcpuViolations(v)).toEqual([]);
    Object.assign(v.stats, { wfe_exit_stat: 1 });
    expect(vcpuViolations(v).map((x) => x.invariant)).toContain('ESR_ELx_EC_WFx exits = wfi_exit_stat + wfe_exit_stat');
    Object.assign(v.stats, { wfi_exit_stat: 7, wfe_exit_stat: 3 });
    v.model.halt_calls = 7;
    expect(vcpuViolations(v).map((x) => x.invariant)).toContain('halt_successful_poll <= halt_attempted_poll <= kvm_vcpu_halt() calls');
  });

  it('catches an early timer and an injection without its sample', () => {
    const v = vcpu();
    v.timer_early_count = 1;
    v.wake_latency_ns.count = 7;
    const found = vcpuViolations(v).map((x) => x.invariant);
    expect(found).toContain('no timer early');
    expect(found).toContain('one wake-latency sample per injection');
  });

  it('catches a device interrupt lost or delivered twice', () => {
    const v = vcpu();
    v.timer_lateness_ns.count = 0;
    v.model = { ...zeroModel, halt_calls: 10, device_interrupts_injected: 10 };
    const run = (raised: number, eois: number) =>
      runViolations({
        scenario: { vm: { vcpus: 1 }, host: { kvm_intel: PLE_DEFAULTS, kvm_cap_x86_disable_exits: { hlt: false, mwait: false, pause: false } }, workload: { kind: 'irq-wake' } },
        vcpus: [v],
        host: { timers_fired: 0, device_interrupts_raised: raised, device_eois: eois },
      } as unknown as RunResult).map((x) => x.invariant);
    expect(run(10, 10)).toEqual([]);
    expect(run(12, 10)).toContain('every device interrupt delivered (one may be in flight)');
    expect(run(9, 9)).toContain('no device interrupt delivered twice');
  });

  it('catches PLE exits with ple_gap=0 and directed yields that do not add up', () => {
    const v = vcpu();
    v.exit_reasons = { ...v.exit_reasons, PAUSE_INSTRUCTION: 2, MSR_WRITE: v.exit_reasons.MSR_WRITE - 2 };
    v.model = { ...v.model, on_spin_yield_attempted: 4, on_spin_yield_successful: 3, on_spin_yield_failed: 2 };
    const found = vcpuViolations(v).map((x) => x.invariant);
    expect(found).toContain('one directed yield at most per PLE exit');
    expect(found).toContain('successful + failed yields <= yields attempted');
    const run = (ple_gap: number, pause = false) =>
      runViolations({
        scenario: { vm: { vcpus: 1 }, host: { kvm_intel: { ...PLE_DEFAULTS, ple_gap }, kvm_cap_x86_disable_exits: { hlt: false, mwait: false, pause } }, workload: { kind: 'timer-latency' } },
        vcpus: [v],
        host: { timers_fired: 4 },
      } as unknown as RunResult).map((x) => x.invariant);
    const noPle = 'no PLE exits with ple_gap=0 or KVM_X86_DISABLE_EXITS_PAUSE (pause_in_guest)';
    expect(run(128)).not.toContain(noPle);
    expect(run(0)).toContain(noPle);
    expect(run(128, true)).toContain(noPle);
  });
});
