import { beforeAll, describe, expect, it } from 'vitest';
import { createVm } from '../../src/host/vm.ts';
import type { VcpuResult } from '../../src/host/results.ts';
import { parseScenario } from '../../src/scenarios/schema.ts';
import { vcpuRecords } from '../../src/host/layout.ts';
import { MP_STATE, TIMER } from '../../src/host/kvm/vcpu-state.ts';
import { expectCompleted } from './invariants.ts';

// hrtimer-rearm end to end on real worker threads, with and without the lazy tscdeadline
// proposal: the guest's own checks (never early, never spurious, never lost), statistics that add
// up exactly, and the proposal's effect on MSR-write exits with a wide margin. No timings asserted.

async function run(lazy: boolean) {
  const scenario = parseScenario({
    name: 'hrtimer-rearm-test',
    duration_s: 0.8,
    host: { pcpus: 2, proposals: { lazy_tscdeadline: lazy } },
    // Two busy vCPUs on a 2-core machine get descheduled now and then: the races around the halt happen.
    vm: { vcpus: 2 },
    workload: { kind: 'hrtimer-rearm' },
  });
  const vm = createVm(scenario);
  const r = await vm.run();
  expectCompleted(r);
  expect(r.warnings.filter((w) => w.includes('lazy_tscdeadline'))).toEqual([]);
  // Each vCPU as the run left it: if halted, something must still be coming to wake it (this guest
  // always has a deadline programmed when it halts). A lost timer stalls it for good, so whenever
  // one was lost, this holds at the end: halted, no timer armed, nothing pending.
  return r.vcpus.map((v) => {
    const s = vcpuRecords(vm.mem, v.id).block;
    const strandedInHlt =
      s.load('mp_state') === MP_STATE.HALTED && s.load('irr') === 0 && s.load('timer_mode') === TIMER.DISARMED;
    return { v, wall_s: r.wall_s, strandedInHlt };
  });
}

function expectGuestChecksHold({ v, strandedInHlt }: { v: VcpuResult; strandedInHlt: boolean }): void {
  expect(strandedInHlt).toBe(false);
  const handled = v.timer_lateness_ns.count;
  // Early (handler before the deadline it last programmed) or spurious (nothing programmed: -inf):
  // both are negative samples of the guest's own check.
  expect(v.timer_early_count).toBe(0);
  // Lost: each cycle ends in a HLT that only its timer interrupt ends, so a lost one would stop the
  // guest for good. Every HLT but possibly the one the run stopped in was ended by a handled interrupt.
  expect(handled).toBeGreaterThanOrEqual(v.stats.halt_exits as number - 1);
  // ~2 ms cycles for 0.8 s: hundreds on an idle machine, dozens on a loaded one; a stalled guest is caught above.
  expect(handled).toBeGreaterThan(5);
  // Each timer interrupt injected is handled once (the last may be injected as the run stops).
  expect(v.model.timer_interrupts_injected - handled).toBeGreaterThanOrEqual(0);
  expect(v.model.timer_interrupts_injected - handled).toBeLessThanOrEqual(1);
}

describe('hrtimer-rearm on real threads', () => {
  let mainline: Awaited<ReturnType<typeof run>>;
  let lazy: Awaited<ReturnType<typeof run>>;
  const sum = (r: typeof lazy, f: (v: VcpuResult) => number) => r.reduce((a, x) => a + f(x.v), 0) / r[0].wall_s;
  beforeAll(async () => {
    mainline = await run(false);
    lazy = await run(true);
  });

  it.each([0, 1])('mainline: every rewrite of the deadline is an MSR_WRITE exit; interrupts never lost, early or spurious (vcpu%i)', (i) => {
    const { v } = mainline[i];
    expectGuestChecksHold(mainline[i]);
    const ce = v.guest_clockevent!;
    expect(ce.kind).toBe('lapic-deadline');
    expect(ce.pending_only).toBe(0);
    expect(v.model.tsc_deadline_writes).toBe(ce.set_next_event);
    expect(v.exit_reasons.MSR_WRITE).toBe(v.model.tsc_deadline_writes);
    expect(v.model.lazy_tscdeadline_rearms).toBe(0);
  });

  it.each([0, 1])('with the proposal: a later deadline costs no exit, the host re-arms instead; interrupts never lost, early or spurious (vcpu%i)', (i) => {
    const { v } = lazy[i];
    expectGuestChecksHold(lazy[i]);
    const ce = v.guest_clockevent!;
    expect(ce.kind).toBe('kvm-lazy-tscdeadline');
    // Exactly the rewrites that did not stay in the page reached KVM; one more MSR write registered it.
    expect(v.model.tsc_deadline_writes).toBe(ce.set_next_event - ce.pending_only);
    expect(v.exit_reasons.MSR_WRITE).toBe(v.model.tsc_deadline_writes + 1);
    // 50 rewrites per expiry by default: about one in 50 exits; 1 in 5 is a wide margin.
    expect(v.model.tsc_deadline_writes * 5).toBeLessThan(ce.set_next_event);
    // The stale deadlines still expire: re-armed at pending, in guest mode or on the host.
    expect(v.model.lazy_tscdeadline_rearms).toBeGreaterThan(0);
  });

  it('the proposal takes most MSR_WRITE exits and exits overall away, per re-arm of the timer (wide margins)', () => {
    // Per set_next_event, not per second: a loaded machine slows one run more than the other.
    const perRearm = (r: typeof lazy, f: (v: VcpuResult) => number) => sum(r, f) / sum(r, (v) => v.guest_clockevent!.set_next_event);
    expect(perRearm(mainline, (v) => v.exit_reasons.MSR_WRITE)).toBe(1);
    expect(perRearm(lazy, (v) => v.exit_reasons.MSR_WRITE) * 5).toBeLessThan(1);
    expect(perRearm(lazy, (v) => v.stats.exits as number) * 3).toBeLessThan(perRearm(mainline, (v) => v.stats.exits as number));
  });

  it('says so when the proposal is on for a guest that writes the MSR directly (timer-latency): it changes nothing there', async () => {
    const r = await createVm(parseScenario({ duration_s: 0.3, host: { proposals: { lazy_tscdeadline: true } }, vm: { vcpus: 1 }, workload: { kind: 'timer-latency' } })).run();
    expectCompleted(r);
    expect(r.warnings.join('\n')).toMatch(/lazy_tscdeadline is on, but the timer-latency guest writes MSR_IA32_TSC_DEADLINE directly/);
    expect(r.vcpus[0].model.lazy_tscdeadline_rearms).toBe(0);
    expect(r.vcpus[0].guest_clockevent).toBeNull();
  });
});
