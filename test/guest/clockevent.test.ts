import { describe, expect, it } from 'vitest';
import { Assembler } from '../../src/guest/assembler.ts';
import { GUEST_EXIT, GuestCpu, type GuestHost } from '../../src/guest/interpreter.ts';
import { MSR_IA32_TSC_DEADLINE } from '../../src/guest/isa.ts';

// The guest kernel's LAPIC clockevent as the interpreter runs it (the host side is in test/host/lazy-tscdeadline.test.ts).

const host: GuestHost = { kicked: () => false, timerDue: () => false, interruptWindowRequested: () => false, wfxTrapped: () => true, eoi: () => {}, sample: () => {}, hltInGuest: false, mwaitInGuest: false, idleInGuest: (): 0 => { throw new Error('no native idle on this fake host'); }, monitor: () => {}, store: () => {}, load: () => 0, cmpxchg: () => 0, xadd: () => 0, pauseLoopExit: () => false, cpuId: () => 0 };

function program(clockevent?: 'lapic-deadline' | 'kvm-lazy-tscdeadline') {
  const a = new Assembler();
  a.label('entry').movi(1, 5_000).setNextEvent(1).movi(1, 7_000).setNextEvent(1);
  return a.assemble('ce', 'entry', clockevent ? { clockevent } : {});
}

describe('set_next_event', () => {
  it('lapic_next_deadline: every call writes MSR_IA32_TSC_DEADLINE (an exit)', () => {
    const cpu = new GuestCpu(program('lapic-deadline'));
    expect(cpu.run(host)).toBe(GUEST_EXIT.MSR_WRITE);
    expect([cpu.exitMsr, cpu.exitValue]).toEqual([MSR_IA32_TSC_DEADLINE, 5_000]);
    expect(cpu.run(host)).toBe(GUEST_EXIT.MSR_WRITE);
    expect(cpu.exitValue).toBe(7_000);
    expect(cpu.run(host)).toBe(GUEST_EXIT.SHUTDOWN);
    expect(cpu.clockevent?.counts).toEqual({ set_next_event: 2, pending_only: 0 });
  });

  it('kvm_lapic_next_deadline: a later deadline than the armed one stays in the page', () => {
    const f64 = new Float64Array(2);
    const cpu = new GuestCpu(program('kvm-lazy-tscdeadline'), { lazyTscdeadline: { f64, armed: 0, pending: 1 } });
    expect(cpu.run(host)).toBe(GUEST_EXIT.MSR_WRITE); // nothing armed
    f64[0] = cpu.exitValue; // the host arms it
    expect(cpu.run(host)).toBe(GUEST_EXIT.SHUTDOWN); // 7000 > armed: no exit
    expect([f64[0], f64[1]]).toEqual([5_000, 7_000]);
    expect(cpu.clockevent?.counts).toEqual({ set_next_event: 2, pending_only: 1 });
  });

  it('needs a clockevent, and the lazy one needs its page', () => {
    expect(() => new GuestCpu(program()).run(host)).toThrow(/set_next_event without a LAPIC clockevent/);
    expect(() => new GuestCpu(program('kvm-lazy-tscdeadline'))).toThrow(/needs its struct kvm_lazy_tscdeadline page/);
  });
});
