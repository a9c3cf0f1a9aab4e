import { describe, expect, it } from 'vitest';
import { growPleWindow, kvmPauseInGuest, PauseLoopDetector, PLE_DEFAULTS, shrinkPleWindow, type PleParams } from '../../src/host/kvm/ple.ts';
import { eligibleForDirectedYield, kvmVcpuOnSpin, ON_SPIN_TRIES, type OnSpinVm } from '../../src/host/kvm/directed-yield.ts';

// Reference §2.5 and checkable facts 18-19: the PLE window's arithmetic and kvm_vcpu_on_spin()'s
// candidate order, as pure functions.

const UINT_MAX = 4_294_967_295;
const grows = (p: PleParams, from: number, n: number) => {
  const out = [from];
  for (let i = 0; i < n; i++) out.push(growPleWindow(out[out.length - 1], p));
  return out;
};
const shrinks = (p: PleParams, from: number, n: number) => {
  const out = [from];
  for (let i = 0; i < n; i++) out.push(shrinkPleWindow(out[out.length - 1], p));
  return out;
};

describe('the PLE window (grow_ple_window / shrink_ple_window, VMX)', () => {
  it('has kvm_intel’s defaults: gap 128, window 4096, grow 2, shrink 0, max UINT_MAX', () => {
    expect(PLE_DEFAULTS).toEqual({ ple_gap: 128, ple_window: 4096, ple_window_grow: 2, ple_window_shrink: 0, ple_window_max: UINT_MAX });
    expect(kvmPauseInGuest(PLE_DEFAULTS)).toBe(false);
    expect(kvmPauseInGuest({ ple_gap: 0 })).toBe(true);
  });

  it('doubles on each PLE exit up to ple_window_max, and resets to 4096 when a scheduled-out vCPU is loaded', () => {
    expect(grows(PLE_DEFAULTS, 4096, 4)).toEqual([4096, 8192, 16384, 32768, 65536]);
    // 4096 * 2^20 = 2^32 > UINT_MAX: clamped, and it stays there.
    expect(grows(PLE_DEFAULTS, 4096, 21).slice(-3)).toEqual([2 ** 31, UINT_MAX, UINT_MAX]);
    // shrink = 0 means "reset to base", from anywhere.
    expect(shrinkPleWindow(65536, PLE_DEFAULTS)).toBe(4096);
    expect(shrinkPleWindow(UINT_MAX, PLE_DEFAULTS)).toBe(4096);
  });

  it('multiplies or divides by a modifier below the base, adds or subtracts one at or above it', () => {
    const div = { ...PLE_DEFAULTS, ple_window_shrink: 2, ple_window_max: 20_000 };
    expect(grows(div, 4096, 3)).toEqual([4096, 8192, 16384, 20_000]);
    expect(shrinks(div, 20_000, 4)).toEqual([20_000, 10_000, 5000, 4096, 4096]); // floored at the base
    const add = { ...PLE_DEFAULTS, ple_window_grow: 5000, ple_window_shrink: 4096 };
    expect(grows(add, 4096, 2)).toEqual([4096, 9096, 14_096]);
    expect(shrinks(add, 14_096, 2)).toEqual([14_096, 10_000, 5904]);
    // Unsigned int arithmetic, as in KVM: 5904 - 4096 = 1808 < base gives the base; 4096 - 5000 wraps.
    expect(shrinkPleWindow(5904, add)).toBe(4096);
    expect(shrinkPleWindow(4096, { ...add, ple_window_shrink: 5000 })).toBe(UINT_MAX + 1 - 904);
    // grow 0: every exit puts the window back at the base.
    expect(grows({ ...PLE_DEFAULTS, ple_window_grow: 0 }, 8192, 2)).toEqual([8192, 4096, 4096]);
  });
});

describe('the CPU’s pause-loop detector (SDM 25.1.3)', () => {
  it('exits once a loop of PAUSEs no more than ple_gap cycles apart lasts longer than the window', () => {
    const d = new PauseLoopDetector();
    d.enter();
    // PAUSEs every 3 guest cycles, 500 ns apart: the loop starts at t=0; t=4096 is not yet past the window.
    const at = (k: number) => d.pause(3 * k, 500 * k, 128, 4096);
    const exits = Array.from({ length: 10 }, (_, k) => at(k));
    expect(exits).toEqual([false, false, false, false, false, false, false, false, false, true]); // 4500 > 4096
  });

  it('starts a new loop after a gap longer than ple_gap, and at the first PAUSE after VM entry', () => {
    const d = new PauseLoopDetector();
    d.enter();
    expect(d.pause(0, 0, 128, 4096)).toBe(false);
    expect(d.pause(100, 4000, 128, 4096)).toBe(false);
    expect(d.pause(229, 5000, 128, 4096)).toBe(false); // 129 cycles later: a new loop from t=5000
    expect(d.pause(300, 9096, 128, 4096)).toBe(false); // exactly the window: not past it
    expect(d.pause(310, 9097, 128, 4096)).toBe(true);
    d.enter();
    expect(d.pause(320, 20_000, 128, 4096)).toBe(false); // first after entry
    expect(d.pause(321, 24_097, 128, 4096)).toBe(true);
    expect(d.pause(322, 1e9, 0, 4096)).toBe(false); // ple_gap = 0: PLE is off
  });
});

interface FakeVcpu {
  ready: boolean;
  blocking?: boolean;
  dyRunnable?: boolean;
  preempted?: boolean;
  inKernel?: boolean;
  pendingIrq?: boolean;
  inSpinLoop?: boolean;
  dyEligible?: boolean;
  /** What yield_to() returns for it. */
  yields: number;
}

function fakeVm(vcpus: FakeVcpu[], lastBoosted: number): OnSpinVm & { last: number; calls: number[]; v: FakeVcpu[] } {
  const vm = {
    v: vcpus,
    last: lastBoosted,
    calls: [] as number[],
    nrVcpus: vcpus.length,
    getLastBoosted: () => vm.last,
    setLastBoosted: (i: number) => (vm.last = i),
    ready: (i: number) => vcpus[i].ready,
    isBlocking: (i: number) => vcpus[i].blocking ?? false,
    dyRunnable: (i: number) => vcpus[i].dyRunnable ?? false,
    preempted: (i: number) => vcpus[i].preempted ?? false,
    dyHasPendingInterrupt: (i: number) => vcpus[i].pendingIrq ?? false,
    preemptedInKernel: (i: number) => vcpus[i].inKernel ?? true,
    inSpinLoop: (i: number) => vcpus[i].inSpinLoop ?? false,
    dyEligible: (i: number) => vcpus[i].dyEligible ?? false,
    setInSpinLoop: (i: number, b: boolean) => (vcpus[i].inSpinLoop = b),
    setDyEligible: (i: number, b: boolean) => (vcpus[i].dyEligible = b),
    yieldTo: (i: number) => {
      vm.calls.push(i);
      return vcpus[i].yields;
    },
  };
  return vm;
}

const ready = (yields: number, more: Partial<FakeVcpu> = {}): FakeVcpu => ({ ready: true, yields, ...more });

describe('the PLE window’s edge cases', () => {
  it('a modifier of 1 grows or shrinks by nothing (only below 1 means the base); one equal to the base adds or subtracts', () => {
    const one = { ...PLE_DEFAULTS, ple_window_grow: 1, ple_window_shrink: 1 };
    expect(growPleWindow(8192, one)).toBe(8192);
    expect(shrinkPleWindow(8192, one)).toBe(8192);
    const atBase = { ...PLE_DEFAULTS, ple_window_grow: 4096, ple_window_shrink: 4096 };
    expect(growPleWindow(8192, atBase)).toBe(12_288);
    expect(shrinkPleWindow(12_288, atBase)).toBe(8192);
  });

  it('the detector: never an exit with ple_gap 0; PAUSEs exactly ple_gap cycles apart are one loop', () => {
    const d = new PauseLoopDetector();
    d.enter();
    for (let i = 0; i < 100; i++) expect(d.pause(i * 1000, i * 10_000, 0, 4096)).toBe(false);
    const e = new PauseLoopDetector();
    e.enter();
    const exits = Array.from({ length: 10 }, (_, i) => e.pause(i * 128, i * 1000, 128, 4096));
    expect(exits.indexOf(true)).toBe(5); // the first PAUSE more than 4096 ns after the loop's first
  });
});

describe('kvm_vcpu_on_spin: directed yield', () => {
  it('does nothing with fewer than 2 vCPUs', () => {
    const vm = fakeVm([ready(1)], 0);
    expect(kvmVcpuOnSpin(vm, 0)).toEqual({ tried: [], boosted: -1, failed: 0 });
    expect(vm.v[0].inSpinLoop).toBeUndefined();
  });

  it('goes round robin from last_boosted_vcpu + 1, never picks itself, records the vCPU it boosted', () => {
    // me = 3, last boosted 4: order 5, 0, 1, 2 (3 skipped), 4.
    const vm = fakeVm([ready(0), ready(0), ready(1), ready(1), ready(1), ready(0)], 4);
    const r = kvmVcpuOnSpin(vm, 3);
    expect(r.tried).toEqual([5, 0, 1, 2]);
    expect(r.boosted).toBe(2);
    expect(vm.last).toBe(2);
    // The next spinner starts after 2.
    expect(kvmVcpuOnSpin(vm, 0).tried).toEqual([3]);
    expect(vm.last).toBe(3);
  });

  it('gives up after 3 negative yields; yields of 0 cost no try', () => {
    const vm = fakeVm([ready(-1), ready(0), ready(-1), ready(-1), ready(-1), ready(1)], 0);
    const r = kvmVcpuOnSpin(vm, 1);
    expect(r.tried).toEqual([2, 3, 4]);
    expect(r.failed).toBe(ON_SPIN_TRIES);
    expect(r.boosted).toBe(-1);
    expect(vm.last).toBe(0); // unchanged
    const zeros = fakeVm([ready(0), ready(0), ready(0), ready(-1), ready(-1), ready(1)], 5);
    expect(kvmVcpuOnSpin(zeros, 4).tried).toEqual([0, 1, 2, 3, 5]);
  });

  it('skips vCPUs not ready, blocked with nothing to do, or preempted in user mode without a pending interrupt', () => {
    const vm = fakeVm(
      [
        ready(1), // me
        { ready: false, yields: 1 },
        ready(1, { blocking: true }),
        ready(1, { preempted: true, inKernel: false }),
        ready(1, { blocking: true, dyRunnable: true }),
      ],
      0,
    );
    expect(kvmVcpuOnSpin(vm, 0).tried).toEqual([4]);
    // Preempted in user mode but with a posted interrupt: a candidate.
    const irq = fakeVm([ready(1), ready(1, { preempted: true, inKernel: false, pendingIrq: true })], 1);
    expect(kvmVcpuOnSpin(irq, 0).boosted).toBe(1);
  });

  it('visits each other vCPU once, never itself even when ready and eligible, and is in its spin loop while it yields', () => {
    const vm = fakeVm([ready(0), ready(0, { dyEligible: true }), ready(0), ready(0)], 1);
    const during: boolean[] = [];
    const yieldTo = vm.yieldTo;
    vm.yieldTo = (i: number) => {
      during.push(vm.v[1].inSpinLoop ?? false);
      return yieldTo(i);
    };
    expect(kvmVcpuOnSpin(vm, 1).tried).toEqual([2, 3, 0]);
    expect(during).toEqual([true, true, true]);
    expect(vm.v[1].inSpinLoop).toBe(false);
  });

  it('yields to a vCPU preempted in kernel mode, and with yield_to_kernel_mode false to one preempted in user mode', () => {
    expect(kvmVcpuOnSpin(fakeVm([ready(1), ready(1, { preempted: true })], 1), 0).boosted).toBe(1);
    expect(kvmVcpuOnSpin(fakeVm([ready(1), ready(1, { preempted: true, inKernel: false })], 1), 0, false).boosted).toBe(1);
  });

  it('toggles dy_eligible only for a vCPU in a spin loop', () => {
    const vm = fakeVm([ready(1, { dyEligible: false }), ready(1, { inSpinLoop: true, dyEligible: false })], 0);
    expect(eligibleForDirectedYield(vm, 0)).toBe(true);
    expect(vm.v[0].dyEligible).toBe(false);
    expect(eligibleForDirectedYield(vm, 1)).toBe(false);
    expect(vm.v[1].dyEligible).toBe(true);
  });

  it('passes over another spinner every other time (dy_eligible toggles) and leaves me ineligible', () => {
    const vm = fakeVm([ready(1), ready(1, { inSpinLoop: true, dyEligible: false }), ready(1)], 0);
    expect(kvmVcpuOnSpin(vm, 0).tried).toEqual([2]); // 1 is skipped; its dy_eligible flips to true
    expect(vm.v[1].dyEligible).toBe(true);
    vm.last = 0;
    expect(kvmVcpuOnSpin(vm, 0).tried).toEqual([1]); // now eligible (and flipped back)
    expect(vm.v[1].dyEligible).toBe(false);
    expect(vm.v[0]).toMatchObject({ inSpinLoop: false, dyEligible: false });
  });
});
