import { describe, expect, it } from 'vitest';
import { kvmSetIrqPending, kvmVcpuKick, kvmVcpuKickForInterrupt, kvmVcpuWakeUp, smpSendReschedule, vmmSignalVcpu, wakeIdleWaiter } from '../../src/host/kvm/kick.ts';
import { readVcpuStats } from '../../src/host/kvm/stats.ts';
import { IDLE_WAIT, LINE, MODE, RCUWAIT, VCPU_BLOCK } from '../../src/host/kvm/vcpu-state.ts';
import { allocateVm, vcpuRecords } from '../../src/host/layout.ts';

const V = VCPU_BLOCK.i32.index;
const VF = VCPU_BLOCK.f64.index;

// Waking and kicking a vCPU from another thread (kick.ts, reference §1.3 "Wakeup path" and
// kvm_vcpu_kick), on one vCPU's shared words: who is woken, what is counted, which words move.

function vcpu(state: { rcuwait?: number; mode?: number; idle_wait?: number; apicv?: boolean } = {}) {
  const shared = vcpuRecords(allocateVm({ vcpus: 1, pcpus: 1, actors: 2 }), 0);
  const v = shared.block.i32;
  Atomics.store(v, V.rcuwait, state.rcuwait ?? RCUWAIT.NONE);
  Atomics.store(v, V.mode, state.mode ?? MODE.OUTSIDE_GUEST_MODE);
  Atomics.store(v, V.idle_wait, state.idle_wait ?? IDLE_WAIT.NONE);
  Atomics.store(v, V.apicv, state.apicv ? 1 : 0);
  const words = () => ({
    kick: Atomics.load(v, V.kick),
    rcuwait: Atomics.load(v, V.rcuwait),
    mode: Atomics.load(v, V.mode),
    pi_on: Atomics.load(v, V.pi_on),
    halt_wakeup: readVcpuStats(shared.stats).stats.halt_wakeup as number,
  });
  return { shared, words };
}

describe('kvm_vcpu_wake_up (__kvm_vcpu_wake_up: rcuwait_wake_up on the vCPU’s wait)', () => {
  it('wakes a task sleeping in kvm_vcpu_block: TASK_INTERRUPTIBLE -> running, halt_wakeup +1, the kick word bumped', () => {
    const { shared, words } = vcpu({ rcuwait: RCUWAIT.INTERRUPTIBLE });
    expect(kvmVcpuWakeUp(shared)).toBe(true);
    expect(words()).toMatchObject({ rcuwait: RCUWAIT.RUNNING, halt_wakeup: 1, kick: 1 });
  });

  it('wakes nobody and counts nothing for a vCPU not in kvm_vcpu_block (running or polling: fact 11)', () => {
    const { shared, words } = vcpu({ rcuwait: RCUWAIT.NONE });
    expect(kvmVcpuWakeUp(shared)).toBe(false);
    expect(words()).toMatchObject({ rcuwait: RCUWAIT.NONE, halt_wakeup: 0, kick: 0 });
  });

  it('wakes a task only once: a second wake finds it running', () => {
    const { shared, words } = vcpu({ rcuwait: RCUWAIT.INTERRUPTIBLE });
    expect(kvmVcpuWakeUp(shared)).toBe(true);
    expect(kvmVcpuWakeUp(shared)).toBe(false);
    expect(words()).toMatchObject({ halt_wakeup: 1, kick: 1 });
  });

  it('does not count a task registered on the wait but already running (before its set_current_state)', () => {
    const { shared, words } = vcpu({ rcuwait: RCUWAIT.RUNNING });
    expect(kvmVcpuWakeUp(shared)).toBe(false);
    expect(words()).toMatchObject({ rcuwait: RCUWAIT.RUNNING, halt_wakeup: 0, kick: 0 });
  });
});

describe('kvm_vcpu_kick', () => {
  it('wakes a sleeper and leaves vcpu->mode alone', () => {
    const { shared, words } = vcpu({ rcuwait: RCUWAIT.INTERRUPTIBLE, mode: MODE.OUTSIDE_GUEST_MODE });
    expect(kvmVcpuKick(shared)).toBe(true);
    expect(words()).toMatchObject({ halt_wakeup: 1, mode: MODE.OUTSIDE_GUEST_MODE });
  });

  it('flips a vCPU in guest mode to EXITING_GUEST_MODE (the reschedule IPI), waking nobody', () => {
    const { shared, words } = vcpu({ mode: MODE.IN_GUEST_MODE });
    expect(kvmVcpuKick(shared)).toBe(false);
    expect(words()).toMatchObject({ mode: MODE.EXITING_GUEST_MODE, halt_wakeup: 0, kick: 0 });
  });

  it('needs nothing for a polling vCPU outside guest mode: it sees the event itself', () => {
    const { shared, words } = vcpu({ mode: MODE.OUTSIDE_GUEST_MODE });
    expect(kvmVcpuKick(shared)).toBe(false);
    expect(words()).toEqual({ kick: 0, rcuwait: RCUWAIT.NONE, mode: MODE.OUTSIDE_GUEST_MODE, pi_on: 0, halt_wakeup: 0 });
  });

  it('leaves EXITING_GUEST_MODE as it is', () => {
    const { shared, words } = vcpu({ mode: MODE.EXITING_GUEST_MODE });
    kvmVcpuKick(shared);
    expect(words().mode).toBe(MODE.EXITING_GUEST_MODE);
  });

  it('ends a guest idling in guest mode (a native HLT): the IPI exits it', () => {
    const { shared, words } = vcpu({ mode: MODE.IN_GUEST_MODE, idle_wait: IDLE_WAIT.HLT_IN_GUEST });
    expect(kvmVcpuKick(shared)).toBe(false);
    expect(words()).toMatchObject({ mode: MODE.EXITING_GUEST_MODE, kick: 1, halt_wakeup: 0 });
  });
});

describe('waking an idle waiter outside kvm_vcpu_block (native HLT/MWAIT/WFx, the VMM’s halt wait)', () => {
  it('bumps the kick word of a waiter and says it was one', () => {
    for (const w of [IDLE_WAIT.HLT_IN_GUEST, IDLE_WAIT.MWAIT_IN_GUEST, IDLE_WAIT.VMM_HALTED, IDLE_WAIT.WFI_IN_GUEST, IDLE_WAIT.WFE_IN_GUEST]) {
      const { shared, words } = vcpu({ idle_wait: w });
      expect(wakeIdleWaiter(shared.block)).toBe(true);
      expect(words().kick).toBe(1);
    }
  });

  it('does nothing when nobody waits', () => {
    const { shared, words } = vcpu();
    expect(wakeIdleWaiter(shared.block)).toBe(false);
    expect(words().kick).toBe(0);
  });
});

describe('an interrupt for a vCPU (kvmVcpuKickForInterrupt: the delivery half of __vmx_deliver_posted_interrupt)', () => {
  it('wakes a vCPU idling in guest mode without an exit and without halt_wakeup', () => {
    const { shared, words } = vcpu({ mode: MODE.IN_GUEST_MODE, idle_wait: IDLE_WAIT.HLT_IN_GUEST });
    expect(kvmVcpuKickForInterrupt(shared)).toBe(false);
    expect(words()).toMatchObject({ kick: 1, mode: MODE.IN_GUEST_MODE, halt_wakeup: 0 });
  });

  it('with APICv, posts it to a vCPU running guest code (the ON bit), no exit', () => {
    const { shared, words } = vcpu({ mode: MODE.IN_GUEST_MODE, apicv: true });
    expect(kvmVcpuKickForInterrupt(shared)).toBe(false);
    expect(words()).toMatchObject({ pi_on: 1, mode: MODE.IN_GUEST_MODE, kick: 0 });
  });

  it('without APICv, kicks a vCPU running guest code out of guest mode', () => {
    const { shared, words } = vcpu({ mode: MODE.IN_GUEST_MODE });
    expect(kvmVcpuKickForInterrupt(shared)).toBe(false);
    expect(words()).toMatchObject({ pi_on: 0, mode: MODE.EXITING_GUEST_MODE });
  });

  it('with APICv, still wakes a vCPU sleeping in kvm_vcpu_block (it is not in guest mode)', () => {
    const { shared, words } = vcpu({ rcuwait: RCUWAIT.INTERRUPTIBLE, apicv: true });
    expect(kvmVcpuKickForInterrupt(shared)).toBe(true);
    expect(words()).toMatchObject({ pi_on: 0, halt_wakeup: 1, kick: 1 });
  });
});

describe('smp_send_reschedule (the tick preempting a vCPU)', () => {
  it('makes a vCPU in guest mode exit, and ends a native idle there', () => {
    const { shared, words } = vcpu({ mode: MODE.IN_GUEST_MODE, idle_wait: IDLE_WAIT.MWAIT_IN_GUEST });
    smpSendReschedule(shared);
    expect(words()).toMatchObject({ mode: MODE.EXITING_GUEST_MODE, kick: 1, halt_wakeup: 0 });
  });

  it('wakes nobody outside guest mode, even a sleeper: it is not a halt_wakeup', () => {
    const { shared, words } = vcpu({ rcuwait: RCUWAIT.INTERRUPTIBLE, idle_wait: IDLE_WAIT.VMM_HALTED });
    smpSendReschedule(shared);
    expect(words()).toMatchObject({ mode: MODE.OUTSIDE_GUEST_MODE, kick: 0, rcuwait: RCUWAIT.INTERRUPTIBLE, halt_wakeup: 0 });
  });
});

describe('kvmSetIrqPending', () => {
  it('makes the line pending once, stamped with when it became pending; a second raise coalesces and keeps the first stamp', () => {
    const { shared } = vcpu();
    expect(kvmSetIrqPending(shared, LINE.DEVICE0, 1_000)).toBe(true);
    expect(kvmSetIrqPending(shared, LINE.DEVICE0, 2_000)).toBe(false);
    expect(shared.block.load('irr')).toBe(1 << LINE.DEVICE0);
    expect(shared.block.f64[VF.pending_since + LINE.DEVICE0]).toBe(1_000);
  });

  it('keeps each line apart', () => {
    const { shared } = vcpu();
    expect(kvmSetIrqPending(shared, LINE.LAPIC_TIMER, 5)).toBe(true);
    expect(kvmSetIrqPending(shared, LINE.VIRTIO_BLK, 7)).toBe(true);
    expect(shared.block.load('irr')).toBe((1 << LINE.LAPIC_TIMER) | (1 << LINE.VIRTIO_BLK));
    expect([shared.block.f64[VF.pending_since + LINE.LAPIC_TIMER], shared.block.f64[VF.pending_since + LINE.VIRTIO_BLK]]).toEqual([5, 7]);
  });
});

describe('the VMM’s signal (pthread_kill SIG_IPI)', () => {
  it('marks the signal pending and immediate_exit, and wakes as signal_wake_up() does: a sleeper is woken without a halt_wakeup, a vCPU in guest mode exits', () => {
    const sleeping = vcpu({ rcuwait: RCUWAIT.INTERRUPTIBLE });
    vmmSignalVcpu(sleeping.shared);
    expect(sleeping.words()).toMatchObject({ halt_wakeup: 0, kick: 1, rcuwait: RCUWAIT.RUNNING });
    expect([sleeping.shared.block.load('signal_pending'), sleeping.shared.block.load('immediate_exit')]).toEqual([1, 1]);
    const running = vcpu({ mode: MODE.IN_GUEST_MODE });
    vmmSignalVcpu(running.shared);
    expect(running.words().mode).toBe(MODE.EXITING_GUEST_MODE);
  });

  it('wakes the VMM’s own halt wait too (qemu_cpu_kick broadcasts halt_cond)', () => {
    const { shared, words } = vcpu({ idle_wait: IDLE_WAIT.VMM_HALTED });
    vmmSignalVcpu(shared);
    expect(words().kick).toBe(1);
  });
});
