import { describe, expect, it } from 'vitest';
import { spawnActor } from '../../src/actors/actor.ts';
import { now } from '../../src/actors/clock.ts';
import { MSR_IA32_TSC_DEADLINE, MSR_KVM_POLL_CONTROL } from '../../src/guest/isa.ts';
import { DEVICE_VECTOR, VIRTIO_BLK_NOTIFY_PORT } from '../../src/guest/kernel/vectors.ts';
import { kvmIoBus, kvmIoeventfd } from '../../src/host/kvm/ioeventfd.ts';
import { irqfdResampleCount } from '../../src/host/kvm/irqfd.ts';
import { KVM_EXIT } from '../../src/host/kvm/uapi.ts';
import { kvmVcpuRun } from '../../src/host/kvm/vcpu.ts';
import { LINE, MP_STATE, VCPU_BLOCK } from '../../src/host/kvm/vcpu-state.ts';
import { enableIrqfdResample, KVM } from '../../src/host/kvm/vm-state.ts';
import { AIO, eventfdSignal } from '../../src/host/vmm/aio-context.ts';

const V = VCPU_BLOCK.i32.index;
const A = AIO.def!.i32.index;
import type { IrqRaiseConfig } from './fixtures/irq-raise-actor.ts';
import { oneVcpu, type OneVcpu } from './fixtures/one-vcpu.ts';

// KVM_RUN (kvmVcpuRun) on one vCPU driven by the test's thread, for what the halt-path and exit
// tests do not reach: signals and immediate_exit (fact 15), MSR_KVM_POLL_CONTROL (fact 13),
// interrupts posted into a running vCPU (APICv), irqfd resampling at the guest's EOI, an OUT to an
// ioeventfd, and the exit cost. Where another thread must act while this one runs the guest, a
// worker does (fixtures/irq-raise-actor.ts).

type Asm = Parameters<Parameters<typeof oneVcpu>[0]>[0];
const FLAG = 5; // a guest-memory word the device handler sets

/** sti; compute 1 ms at a time until the device handler has run (at most 2 s); the handler EOIs. */
const computeUntilDevice = (a: Asm) => {
  a.label('entry').sti().movi(2, 2000);
  a.label('loop').compute(1_000_000).ldAt(3, FLAG).jnz(3, 'done').addi(2, 2, -1).jnz(2, 'loop');
  a.label('done').cli().jmp('end');
  a.label('dev').movi(4, 1).stAt(FLAG, 4).eoi().iret().handler(DEVICE_VECTOR, 'dev');
  a.label('end');
};

/** Run the vCPU to its end while a worker acts on it once it reaches `when`. */
async function withActor(t: OneVcpu, config: Omit<IrqRaiseConfig, 'vcpu'>) {
  const actor = spawnActor<{ run(): void; snapshot(): { sawWaiting: boolean } }>(new URL('./fixtures/irq-raise-actor.ts', import.meta.url), {
    name: 'actor',
    sab: t.mem.sab,
    layout: t.mem.layout,
    config: { vcpu: 0, ...config },
  });
  try {
    const acted = actor.call(Promise.resolve(actor.api.run()));
    const exits = t.runToEnd();
    await acted;
    return { exits, reached: (await actor.call(Promise.resolve(actor.api.snapshot()))).sawWaiting };
  } finally {
    await actor.terminate();
  }
}

/** One KVM_RUN while a worker sends the VMM's signal once the vCPU sleeps in kvm_vcpu_block. */
async function runUntilSignalled(t: OneVcpu) {
  const actor = spawnActor<{ run(): void; snapshot(): { sawWaiting: boolean } }>(new URL('./fixtures/irq-raise-actor.ts', import.meta.url), {
    name: 'signaller',
    sab: t.mem.sab,
    layout: t.mem.layout,
    config: { vcpu: 0, when: 'blocked', action: 'signal' },
  });
  try {
    const signalled = actor.call(Promise.resolve(actor.api.run()));
    const exit = kvmVcpuRun(t.vcpu);
    await signalled;
    return exit;
  } finally {
    await actor.terminate();
  }
}

describe('signals and immediate_exit (fact 15)', () => {
  it('immediate_exit set before KVM_RUN returns KVM_EXIT_INTR without entering the guest, and counts no signal_exits', () => {
    const t = oneVcpu((a) => a.label('entry').movi(1, 1).wrmsr(MSR_IA32_TSC_DEADLINE, 1));
    t.shared.block.store('immediate_exit', 1);
    expect(kvmVcpuRun(t.vcpu)).toBe(KVM_EXIT.INTR);
    expect(t.shared.block.load('immediate_exit')).toBe(0);
    // kvm_arch_vcpu_ioctl_run: `if (!vcpu->wants_to_run) { r = -EINTR; goto out; }`, before vcpu_run
    // and its kvm_handle_signal_exit(), the only place signal_exits is counted.
    expect(t.stats().stats).toMatchObject({ signal_exits: 0, exits: 0 });
    expect(t.stats().model.vcpu_loads).toBe(0); // never entered
  });

  it('a signal to a vCPU blocked in HLT returns KVM_EXIT_INTR with mp_state still HALTED; the next KVM_RUN halts again', async () => {
    const t = oneVcpu((a) => {
      a.label('entry').sti().hlt().cli().jmp('end');
      a.label('dev').eoi().iret().handler(DEVICE_VECTOR, 'dev');
      a.label('end');
    }, { pollNs: 1 });
    expect(await runUntilSignalled(t)).toBe(KVM_EXIT.INTR);
    expect(t.shared.block.load('mp_state')).toBe(MP_STATE.HALTED);
    // signal_wake_up() woke the sleeper, not kvm_vcpu_wake_up(): no halt_wakeup.
    expect(t.stats().stats).toMatchObject({ signal_exits: 1, halt_exits: 1, halt_wakeup: 0 });
    // The VMM handled its signal; the device then raises its interrupt while the vCPU is blocked again.
    t.shared.block.store('signal_pending', 0);
    const r = await withActor(t, { when: 'blocked' });
    expect(r.reached).toBe(true);
    expect(r.exits).toEqual([KVM_EXIT.SHUTDOWN]);
    expect(t.stats().stats).toMatchObject({ halt_exits: 1, irq_injections: 1 }); // no second HLT exit
    expect(t.stats().model.halt_calls).toBe(2);
  });
});

describe('kvm_vcpu_check_block() and a pending LAPIC timer', () => {
  it('with IF=0, a timer that expires while the vCPU polls ends the poll; it is injected into the IRR and the vCPU halts again', async () => {
    // cli; arm the deadline 20 ms ahead (a cold guest reaches its HLT first); hlt. The poll (300 ms
    // window) sees the timer fire on its own pCPU: no host thread is needed.
    const t = oneVcpu((a) => {
      a.label('entry').cli().rdtsc(1).addi(1, 1, 20_000_000).wrmsr(MSR_IA32_TSC_DEADLINE, 1).hlt().jmp('end');
      a.label('end');
    }, { pollNs: 300_000_000 });
    // The second halt polls its 300 ms and sleeps (nothing it can take with IF=0); the signal ends KVM_RUN.
    expect(await runUntilSignalled(t)).toBe(KVM_EXIT.INTR);
    const s = t.stats();
    expect(s.stats).toMatchObject({ halt_exits: 1, halt_successful_poll: 1, halt_attempted_poll: 2, halt_wakeup: 0, signal_exits: 1 });
    expect(s.model).toMatchObject({ halt_calls: 2, timer_fired_in_guest: 1 });
    expect(t.shared.block.load('mp_state')).toBe(MP_STATE.HALTED);
    expect(t.shared.block.load('irr') & (1 << LINE.LAPIC_TIMER)).not.toBe(0); // pending in the IRR, not taken
    expect(t.shared.block.load('timer_pending')).toBe(0); // kvm_inject_pending_timer_irqs() consumed it
  });
});

describe('MSR_KVM_POLL_CONTROL through KVM_RUN (fact 13)', () => {
  it('a write with a reserved bit set is a #GP (kvm_set_msr_common: only the enable bit exists)', () => {
    const t = oneVcpu((a) => a.label('entry').movi(1, 3).wrmsr(MSR_KVM_POLL_CONTROL, 1));
    expect(() => t.runToEnd()).toThrow(/#GP: MSR_KVM_POLL_CONTROL written with reserved bits set \(3\)/);
    expect(t.shared.block.load('poll_control')).toBe(1);
  });

  it('a write when KVM_FEATURE_POLL_CONTROL is not advertised is a #GP', () => {
    const t = oneVcpu((a) => a.label('entry').movi(1, 0).wrmsr(MSR_KVM_POLL_CONTROL, 1), { pvPollControl: false });
    expect(() => t.runToEnd()).toThrow(/#GP: MSR_KVM_POLL_CONTROL written but KVM_FEATURE_POLL_CONTROL is not advertised/);
    expect(t.shared.block.load('poll_control')).toBe(1);
  });

  it('after the guest writes 0, its halts do not poll and do not adapt the window', async () => {
    const t = oneVcpu((a) => {
      a.label('entry').movi(1, 0).wrmsr(MSR_KVM_POLL_CONTROL, 1).sti().hlt().cli().jmp('end');
      a.label('dev').eoi().iret().handler(DEVICE_VECTOR, 'dev');
      a.label('end');
    }, { pollNs: 50_000 });
    const r = await withActor(t, { when: 'blocked' });
    expect(r.exits).toEqual([KVM_EXIT.SHUTDOWN]);
    expect(t.stats().stats).toMatchObject({ halt_exits: 1, halt_attempted_poll: 0, halt_wakeup: 1 });
    expect(t.stats().exit_reasons.MSR_WRITE).toBe(1);
  });
});

describe('an interrupt for a vCPU running guest code', () => {
  it('with APICv: posted, taken in guest mode without a VM exit; the EOI of a resampled line tells the device', async () => {
    const t = oneVcpu(computeUntilDevice, { apicv: true });
    enableIrqfdResample(t.mem.record(KVM, 0), LINE.DEVICE0);
    const r = await withActor(t, { when: 'in_guest' });
    expect(r.reached).toBe(true);
    expect(r.exits).toEqual([KVM_EXIT.SHUTDOWN]);
    const s = t.stats();
    expect(s.stats).toMatchObject({ exits: 0, irq_exits: 0, irq_injections: 0 });
    expect(s.model).toMatchObject({ posted_interrupts: 1, device_interrupts_injected: 1 });
    expect(irqfdResampleCount(t.shared)).toBe(1);
  });

  it('without APICv: an external-interrupt exit, injected at the next entry; no resample for a line not registered', async () => {
    const t = oneVcpu(computeUntilDevice);
    const r = await withActor(t, { when: 'in_guest' });
    expect(r.exits).toEqual([KVM_EXIT.SHUTDOWN]);
    const s = t.stats();
    expect(s.stats).toMatchObject({ exits: 1, irq_exits: 1, irq_injections: 1 });
    expect(s.exit_reasons.EXTERNAL_INTERRUPT).toBe(1);
    expect(s.model.posted_interrupts).toBe(0);
    expect(irqfdResampleCount(t.shared)).toBe(0);
  });
});

describe('port I/O', () => {
  const notify = (a: Asm) => a.label('entry').movi(1, 1).out(VIRTIO_BLK_NOTIFY_PORT, 1).movi(1, 0).out(VIRTIO_BLK_NOTIFY_PORT, 1);

  it('an OUT to a registered ioeventfd is an I/O exit handled in KVM: the eventfd is signalled, nothing reaches the VMM', () => {
    const t = oneVcpu(notify, {}, 2);
    const kvm = t.mem.record(KVM, 0);
    kvmIoeventfd(kvm, VIRTIO_BLK_NOTIFY_PORT, 0, 2);
    t.vcpu.ioBus = kvmIoBus(kvm, (set, n) => eventfdSignal(t.mem.record(AIO, set), n));
    expect(t.runToEnd()).toEqual([KVM_EXIT.SHUTDOWN]);
    expect(t.stats().stats).toMatchObject({ io_exits: 2, exits: 2 });
    expect(t.stats().exit_reasons.IO_INSTRUCTION).toBe(2);
    const aio = t.mem.record(AIO, 0);
    expect([Atomics.load(aio.i32, A.eventfd), Atomics.load(aio.i32, A.eventfd + 1)]).toEqual([1, 1]);
  });

  it('an OUT that no device claims is the guest program’s bug, named', () => {
    const t = oneVcpu(notify);
    expect(() => t.runToEnd()).toThrow(/vcpu0: OUT to port 0xc050, which no device claims/);
  });
});

describe('the exit cost (host.exit_cost_ns)', () => {
  it('each VM exit and re-entry takes at least that long, as busy time in KVM', () => {
    const writes = (a: Asm) => a.label('entry').movi(1, 0).wrmsr(MSR_IA32_TSC_DEADLINE, 1).wrmsr(MSR_IA32_TSC_DEADLINE, 1).wrmsr(MSR_IA32_TSC_DEADLINE, 1);
    const t = oneVcpu(writes, { exitCostNs: 2_000_000 });
    const t0 = now();
    expect(t.runToEnd()).toEqual([KVM_EXIT.SHUTDOWN]);
    expect(now() - t0).toBeGreaterThanOrEqual(3 * 2_000_000);
    expect(t.stats().stats.exits).toBe(3);
  });
});
