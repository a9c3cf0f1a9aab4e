import { afterEach, describe, expect, it, vi } from 'vitest';
import * as clock from '../../src/actors/clock.ts';
import { Assembler } from '../../src/guest/assembler.ts';
import { GuestCpu } from '../../src/guest/interpreter.ts';
import { allocateVm, vcpuRecords } from '../../src/host/layout.ts';
import { kvmEnableCapDisableExits } from '../../src/host/kvm/caps.ts';
import { KvmVcpu } from '../../src/host/kvm/kvm-vcpu.ts';
import { KVM_EXIT, KVM_X86_DISABLE_EXITS } from '../../src/host/kvm/uapi.ts';
import { kvmVcpuRun } from '../../src/host/kvm/vcpu.ts';
import { KVM } from '../../src/host/kvm/vm-state.ts';
import { PLE_DEFAULTS, type PleParams } from '../../src/host/kvm/ple.ts';
import { readVcpuStats } from '../../src/host/kvm/stats.ts';
import { Scheduler } from '../../src/host/sched/scheduler.ts';

// KVM_RUN on one vCPU, on a fake clock that advances 1000 ns per read: a guest that executes
// exactly 100 PAUSEs in a spin loop and ends. The PLE exits, the window after each, and the
// stats are then exact.

afterEach(() => {
  vi.restoreAllMocks();
});

function vcpuWith(ple: PleParams, disableExits = 0) {
  let t = 1_000_000;
  vi.spyOn(clock, 'now').mockImplementation(() => (t += 1000));
  const mem = allocateVm({ vcpus: 2, pcpus: 1, actors: 3 });
  const sched = new Scheduler(mem);
  if (disableExits) expect(kvmEnableCapDisableExits(mem.record(KVM, 0), disableExits)).toBe(0);
  const a = new Assembler();
  a.label('entry').movi(1, 100);
  a.label('spin').pause().addi(1, 1, -1).jnz(1, 'spin');
  const guest = new GuestCpu(a.assemble('pauses'));
  const vcpus = [vcpuRecords(mem, 0), vcpuRecords(mem, 1)];
  const kvm = new KvmVcpu({ mem, id: 0, sched, guest: guest, observer: { injected() {}, sample() {} }, ple });
  sched.acquire(0);
  return { kvm, sched, vcpus };
}

describe('PAUSE-loop exits in KVM_RUN', () => {
  it('exits when a loop outlasts the window, doubling it each time; on_spin finds no runnable vCPU to boost', () => {
    const { kvm, vcpus } = vcpuWith(PLE_DEFAULTS);
    expect(kvmVcpuRun(kvm)).toBe(KVM_EXIT.SHUTDOWN);
    // PAUSEs 1000 ns apart: a loop exits at its first PAUSE more than the window after its first,
    // i.e. after 6, 10, 18, 34 PAUSEs for windows 4096, 8192, 16384, 32768 (68 in all); the last
    // 32 cannot outlast 65536.
    const s = readVcpuStats(vcpus[0].stats);
    expect(s.exit_reasons.PAUSE_INSTRUCTION).toBe(4);
    expect(s.stats.exits).toBe(4);
    expect(vcpus[0].block.get('ple_window')).toBe(65536);
    // vCPU 1 sleeps (not ready): kvm_vcpu_on_spin ran 4 times and tried no yield.
    expect(s.model).toMatchObject({ on_spin_yield_attempted: 0, on_spin_yield_successful: 0, on_spin_yield_failed: 0 });
  });

  it('resets the window when the vCPU is loaded after being scheduled out (ple_window_shrink=0)', () => {
    const { kvm, sched, vcpus } = vcpuWith(PLE_DEFAULTS);
    kvmVcpuRun(kvm);
    expect(vcpus[0].block.get('ple_window')).toBe(65536);
    sched.release(0);
    sched.acquire(0);
    expect(kvmVcpuRun(kvm)).toBe(KVM_EXIT.SHUTDOWN); // the guest has ended: entry only
    expect(vcpus[0].block.get('ple_window')).toBe(4096);
  });

  it('never exits with ple_gap=0 (pause_in_guest), and keeps the window at its base', () => {
    const { kvm, vcpus } = vcpuWith({ ...PLE_DEFAULTS, ple_gap: 0 });
    expect(kvmVcpuRun(kvm)).toBe(KVM_EXIT.SHUTDOWN);
    expect(readVcpuStats(vcpus[0].stats).exit_reasons.PAUSE_INSTRUCTION).toBe(0);
    expect(vcpus[0].block.get('ple_window')).toBe(4096);
  });

  it('KVM_CAP_X86_DISABLE_EXITS with KVM_X86_DISABLE_EXITS_PAUSE turns PLE off for the VM (kvm_pause_in_guest)', () => {
    const on = vcpuWith(PLE_DEFAULTS);
    kvmVcpuRun(on.kvm);
    expect(readVcpuStats(on.vcpus[0].stats).exit_reasons.PAUSE_INSTRUCTION).toBeGreaterThan(0);
    vi.restoreAllMocks();
    const off = vcpuWith(PLE_DEFAULTS, KVM_X86_DISABLE_EXITS.PAUSE);
    expect(kvmVcpuRun(off.kvm)).toBe(KVM_EXIT.SHUTDOWN);
    expect(readVcpuStats(off.vcpus[0].stats).exit_reasons.PAUSE_INSTRUCTION).toBe(0);
    expect(off.vcpus[0].block.get('ple_window')).toBe(4096);
  });

  it('with a window that never grows (ple_window_grow=0), exits every 6 PAUSEs', () => {
    const { kvm, vcpus } = vcpuWith({ ...PLE_DEFAULTS, ple_window_grow: 0 });
    kvmVcpuRun(kvm);
    expect(readVcpuStats(vcpus[0].stats).exit_reasons.PAUSE_INSTRUCTION).toBe(16); // floor(100 / 6)
    expect(vcpus[0].block.get('ple_window')).toBe(4096);
  });
});
