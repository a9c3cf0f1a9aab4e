import { describe, expect, it } from 'vitest';
import { kvmCreateIrqchip, kvmCreateVcpu, kvmEnableCapDisableExits, kvmEnableCapUserspaceExits, readVmExitConfig } from '../../src/host/kvm/caps.ts';
import { EEXIST, EINVAL, KVM_EXIT, KVM_X86_DISABLE_EXITS, KVM_X86_USERSPACE_EXIT } from '../../src/host/kvm/uapi.ts';
import type { KvmVcpu } from '../../src/host/kvm/kvm-vcpu.ts';
import { kvmVcpuRun } from '../../src/host/kvm/vcpu.ts';
import { KVM } from '../../src/host/kvm/vm-state.ts';
import { readRunStates, RUN_STATE } from '../../src/host/thread-state.ts';
import { now } from '../../src/actors/clock.ts';
import { MP_STATE } from '../../src/host/kvm/vcpu-state.ts';
import { allocateVm, guestMemory } from '../../src/host/layout.ts';
import { MSR_IA32_TSC_DEADLINE } from '../../src/guest/isa.ts';
import { spawnActor } from '../../src/actors/actor.ts';
import { armTimer, oneVcpu, timerHandler } from './fixtures/one-vcpu.ts';

// The x86 HLT/MWAIT exit family on one vCPU driven by the test's thread: small finite guest
// programs, exact statistic deltas (reference §2.1-2.4).

const { HLT, MWAIT } = KVM_X86_DISABLE_EXITS;
const LONG_POLL = 1e9; // a halt poll long enough to catch the timer without a host thread
// Far enough ahead that the guest reaches its HLT/MWAIT first even when cold, instrumented and
// starved of CPU (npm run mutate's dry run, beside its other runner): a deadline already past
// makes the HLT find an event and not halt.
const AHEAD_NS = 100_000_000;

/** Wall time per run state of a vCPU so far (its thread's record). */
const stateNs = (k: KvmVcpu) => readRunStates(k.thread, now());

describe('KVM_CAP_X86_DISABLE_EXITS ordering (kvm->created_vcpus)', () => {
  it('is accepted before any vCPU exists and refused with -EINVAL after', () => {
    const kvm = allocateVm({ vcpus: 1, pcpus: 1, actors: 2 }).record(KVM, 0);
    expect(kvmEnableCapDisableExits(kvm, HLT)).toBe(0);
    expect(kvmCreateVcpu(kvm)).toBe(0);
    expect(kvmEnableCapDisableExits(kvm, MWAIT)).toBe(-EINVAL);
    // The refused call changed nothing.
    expect(readVmExitConfig(kvm)).toMatchObject({ hltInGuest: true, mwaitInGuest: false });
    expect(kvmCreateIrqchip(kvm)).toBe(-EINVAL);
    expect(kvmEnableCapUserspaceExits(kvm, { mwait_yield: true })).toBe(-EINVAL);
  });

  it('refuses the bit the modelled host does not offer (CSTATE), and a second irqchip; accepts PAUSE (PLE exists)', () => {
    const kvm = allocateVm({ vcpus: 1, pcpus: 1, actors: 2 }).record(KVM, 0);
    expect(kvmEnableCapDisableExits(kvm, KVM_X86_DISABLE_EXITS.CSTATE)).toBe(-EINVAL);
    expect(kvmEnableCapDisableExits(kvm, HLT | KVM_X86_DISABLE_EXITS.CSTATE)).toBe(-EINVAL);
    expect(readVmExitConfig(kvm)).toMatchObject({ hltInGuest: false, mwaitInGuest: false, pauseInGuest: false });
    expect(kvmEnableCapDisableExits(kvm, KVM_X86_DISABLE_EXITS.PAUSE)).toBe(0);
    expect(readVmExitConfig(kvm)).toMatchObject({ hltInGuest: false, mwaitInGuest: false, pauseInGuest: true });
    expect(kvmCreateIrqchip(kvm)).toBe(0);
    expect(kvmCreateIrqchip(kvm)).toBe(-EEXIST);
  });
});

/** entry: arm a timer AHEAD_NS ahead, STI, HLT, CLI, end; the handler EOIs. */
const oneHlt = (a: Parameters<Parameters<typeof oneVcpu>[0]>[0]) => {
  armTimer(a.label('entry'), AHEAD_NS).sti().hlt().cli().jmp('end');
  timerHandler(a);
  a.label('end');
};

describe('one HLT', () => {
  it('intercepted (in-kernel LAPIC): one halt exit, KVM halts and polls, no exit to the VMM', () => {
    const t = oneVcpu(oneHlt, { pollNs: LONG_POLL });
    expect(t.runToEnd()).toEqual([KVM_EXIT.SHUTDOWN]);
    const s = t.stats();
    expect(s.stats).toMatchObject({ halt_exits: 1, halt_attempted_poll: 1, halt_successful_poll: 1, irq_injections: 1, exits: 2 });
    expect(s.exit_reasons).toMatchObject({ HLT: 1, MSR_WRITE: 1, MWAIT_INSTRUCTION: 0 });
    expect(s.model).toMatchObject({ hlt_in_guest: 0, posted_interrupts: 0, kvm_exit_hlt: 0 });
  });

  it('with KVM_X86_DISABLE_EXITS_HLT: no halt exit and no halt statistics; the timer ends it with a preemption-timer exit', () => {
    // The long poll is only there so that a broken model fails here instead of hanging in kvm_vcpu_block.
    const t = oneVcpu(oneHlt, { disableExits: HLT, pollNs: LONG_POLL });
    expect(t.runToEnd()).toEqual([KVM_EXIT.SHUTDOWN]);
    const s = t.stats();
    expect(s.stats).toMatchObject({ halt_exits: 0, halt_attempted_poll: 0, halt_wakeup: 0, irq_injections: 1, exits: 2 });
    expect(s.exit_reasons).toMatchObject({ HLT: 0, MSR_WRITE: 1, PREEMPTION_TIMER: 1 });
    expect(s.model).toMatchObject({ hlt_in_guest: 1, timer_interrupts_injected: 1 });
    // The vCPU waited in guest mode, its pCPU kept: native_idle, never blocked in KVM.
    expect(stateNs(t.vcpu)[RUN_STATE.NATIVE_IDLE]).toBeGreaterThan(0);
    expect(stateNs(t.vcpu)[RUN_STATE.BLOCKED]).toBe(0);
    expect(t.shared.block.load('idle_wait')).toBe(0);
  });

  it('without an in-kernel irqchip: KVM_EXIT_HLT reaches the VMM at once, halt_exits counted, KVM does not halt', () => {
    const t = oneVcpu((a) => a.label('entry').sti().hlt().cli(), { irqchip: 'userspace' });
    expect(t.runToEnd()).toEqual([KVM_EXIT.HLT, KVM_EXIT.SHUTDOWN]);
    expect(t.stats().stats).toMatchObject({ halt_exits: 1, halt_attempted_poll: 0, exits: 1 });
    expect(t.shared.block.load('mp_state')).toBe(MP_STATE.RUNNABLE);
    expect(stateNs(t.vcpu)[RUN_STATE.BLOCKED]).toBe(0);
  });
});

/** MONITOR r6; MWAIT, twice, then end. */
const twoMwaits = (a: Parameters<Parameters<typeof oneVcpu>[0]>[0]) => {
  a.label('entry').movi(6, 0).monitor(6).mwait().monitor(6).mwait();
};

describe('MONITOR/MWAIT', () => {
  it('intercepted: each is an exit emulated as a NOP; nothing waits', () => {
    const t = oneVcpu(twoMwaits);
    expect(t.runToEnd()).toEqual([KVM_EXIT.SHUTDOWN]);
    const s = t.stats();
    expect(s.exit_reasons).toMatchObject({ MWAIT_INSTRUCTION: 2, MONITOR_INSTRUCTION: 2, HLT: 0 });
    expect(s.stats).toMatchObject({ exits: 4, halt_exits: 0 });
    expect(s.model.mwait_in_guest).toBe(0);
    expect(stateNs(t.vcpu)[RUN_STATE.NATIVE_IDLE]).toBe(0);
    expect(t.shared.block.load('monitor_armed')).toBe(0); // an intercepted MONITOR arms nothing
  });

  it('in guest: a write to the monitored line before MWAIT makes it fall through, without an exit', () => {
    const t = oneVcpu((a) => a.label('entry').movi(6, 16).monitor(6).movi(5, 7).addi(4, 6, 3).st(4, 5).mwait(), { disableExits: MWAIT }, 2);
    expect(t.runToEnd()).toEqual([KVM_EXIT.SHUTDOWN]);
    const s = t.stats();
    expect(s.stats.exits).toBe(0);
    expect(s.model.mwait_in_guest).toBe(1);
    expect(guestMemory(t.mem).load(19)).toBe(7);
  });

  it('guest memory is 64 shared words then one line per vCPU; an access outside it is the guest program’s bug', () => {
    const t = oneVcpu((a) => a.label('entry').movi(4, 80).st(4, 4));
    expect(() => t.runToEnd()).toThrow(/guest address 80 outside guest memory \(80 words\)/);
  });

  it('in guest: a write to another line does not end it; its timer does, as an external interrupt (no preemption timer with mwait_in_guest)', () => {
    const t = oneVcpu(
      (a) => {
        armTimer(a.label('entry'), AHEAD_NS).sti().movi(6, 0).monitor(6).movi(4, 16).st(4, 4).mwait().cli().jmp('end');
        timerHandler(a);
        a.label('end');
      },
      { disableExits: MWAIT },
      2,
    );
    expect(t.runToEnd()).toEqual([KVM_EXIT.SHUTDOWN]);
    const s = t.stats();
    expect(s.exit_reasons).toMatchObject({ MSR_WRITE: 1, EXTERNAL_INTERRUPT: 1, PREEMPTION_TIMER: 0, MWAIT_INSTRUCTION: 0 });
    expect(s.stats).toMatchObject({ exits: 2, irq_exits: 1, irq_injections: 1, halt_exits: 0 });
    expect(s.model).toMatchObject({ mwait_in_guest: 1, timer_interrupts_injected: 1 });
    expect(stateNs(t.vcpu)[RUN_STATE.NATIVE_IDLE]).toBeGreaterThan(0);
  });
});

describe('PROPOSAL: userspace exit on HLT and MWAIT, else yield on MWAIT (2023 RFC)', () => {
  it('HLT with the bit: KVM_EXIT_HLT with mp_state HALTED; the re-entry blocks in KVM', () => {
    const t = oneVcpu(oneHlt, { pollNs: LONG_POLL, userspaceExits: { bits: KVM_X86_USERSPACE_EXIT.HLT, mwait_yield: false } });
    const exits: number[] = [];
    t.shared.block.store('userspace_exits', KVM_X86_USERSPACE_EXIT.HLT); // as the VMM does before KVM_RUN
    const x = kvmVcpuRun(t.vcpu);
    exits.push(x);
    expect(t.shared.block.load('mp_state')).toBe(MP_STATE.HALTED);
    exits.push(...t.runToEnd());
    expect(exits).toEqual([KVM_EXIT.HLT, KVM_EXIT.SHUTDOWN]);
    expect(t.stats().stats).toMatchObject({ halt_exits: 1, halt_attempted_poll: 1, halt_successful_poll: 1 });
  });

  it('the cap without the HLT bit changes nothing for HLT', () => {
    const t = oneVcpu(oneHlt, { pollNs: LONG_POLL, userspaceExits: { bits: KVM_X86_USERSPACE_EXIT.MWAIT, mwait_yield: false } });
    expect(t.runToEnd()).toEqual([KVM_EXIT.SHUTDOWN]);
  });

  it('MWAIT with the bit: KVM_EXIT_MWAIT (38) per intercepted MWAIT; MONITOR stays a NOP', () => {
    const t = oneVcpu(twoMwaits, { userspaceExits: { bits: KVM_X86_USERSPACE_EXIT.MWAIT, mwait_yield: true } });
    expect(t.runToEnd()).toEqual([KVM_EXIT.MWAIT, KVM_EXIT.MWAIT, KVM_EXIT.SHUTDOWN]);
    expect(KVM_EXIT.MWAIT).toBe(38);
    expect(t.stats().exit_reasons).toMatchObject({ MWAIT_INSTRUCTION: 2, MONITOR_INSTRUCTION: 2 });
    expect(t.stats().model.mwait_yields).toBe(0); // the exit, not the yield
  });

  it('the cap without mwait_yield and without the MWAIT bit leaves MWAIT a NOP: no exit, no yield', () => {
    const t = oneVcpu(twoMwaits, { userspaceExits: { bits: 0, mwait_yield: false } });
    expect(t.runToEnd()).toEqual([KVM_EXIT.SHUTDOWN]);
    expect(t.stats().model).toMatchObject({ mwait_yields: 0, kvm_exit_mwait: 0 });
    expect(t.stats().exit_reasons.MWAIT_INSTRUCTION).toBe(2);
  });

  it('MWAIT without the bit, with mwait_yield: a yield per MWAIT, no exit to the VMM', () => {
    const t = oneVcpu(twoMwaits, { userspaceExits: { bits: 0, mwait_yield: true } });
    expect(t.runToEnd()).toEqual([KVM_EXIT.SHUTDOWN]);
    expect(t.stats().model.mwait_yields).toBe(2);
    const plain = oneVcpu(twoMwaits);
    plain.runToEnd();
    expect(plain.stats().model.mwait_yields).toBe(0);
  });
});

describe('a native MWAIT woken by another thread’s write', () => {
  it('ends without an exit when a worker stores to the monitored line (the timer armed 2 s ahead is only a fallback)', async () => {
    const t = oneVcpu(
      (a) => {
        armTimer(a.label('entry'), 2e9).sti().movi(6, 0).monitor(6).mwait().movi(7, 0).wrmsr(MSR_IA32_TSC_DEADLINE, 7).cli().jmp('end');
        timerHandler(a);
        a.label('end');
      },
      { disableExits: MWAIT },
    );
    const writer = spawnActor<{ run(): void; snapshot(): { sawWaiting: boolean } }>(new URL('./fixtures/guest-store-actor.ts', import.meta.url), {
      name: 'writer',
      sab: t.mem.sab,
      layout: t.mem.layout,
      config: { vcpu: 0, addr: 5, value: 42 },
    });
    try {
      const wrote = writer.call(Promise.resolve(writer.api.run()));
      // This thread now really blocks in the vCPU's native MWAIT until the worker's store.
      expect(t.runToEnd()).toEqual([KVM_EXIT.SHUTDOWN]);
      await wrote;
      expect((await writer.call(Promise.resolve(writer.api.snapshot()))).sawWaiting).toBe(true);
      const s = t.stats();
      expect(s.exit_reasons).toMatchObject({ MSR_WRITE: 2, EXTERNAL_INTERRUPT: 0, PREEMPTION_TIMER: 0 });
      expect(s.model).toMatchObject({ mwait_in_guest: 1, timer_interrupts_injected: 0 });
      expect(guestMemory(t.mem).load(5)).toBe(42);
    } finally {
      await writer.terminate();
    }
  });
});
