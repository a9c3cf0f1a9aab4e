import { describe, expect, it, vi } from 'vitest';
import { Assembler } from '../../src/guest/assembler.ts';
import { GUEST_EXIT, GuestCpu, type GuestHost } from '../../src/guest/interpreter.ts';
import { MSR_IA32_TSC_DEADLINE } from '../../src/guest/isa.ts';
import { GuestMemory } from '../../src/host/guest-memory.ts';
import { GUEST_RAM_WORDS } from '../../src/guest/memory.ts';
import { timerLatency } from '../../src/guest/workloads/timer-latency.ts';
import { LAPIC_TIMER_VECTOR } from '../../src/guest/kernel/vectors.ts';
import * as clock from '../../src/actors/clock.ts';
import { now } from '../../src/actors/clock.ts';

// The guest ISA on a fake vCPU: which instructions leave guest mode, and how interrupts nest.

/** The guest-memory members of GuestHost over a bare array (no vCPU monitors to trigger). */
function memoryHost(words: Int32Array): Pick<GuestHost, 'load' | 'store' | 'cmpxchg' | 'xadd'> {
  const m = new GuestMemory(words, words.length, []);
  return { load: (a) => m.load(a), store: (a, v) => m.store(a, v), cmpxchg: (a, e, v) => m.cmpxchg(a, e, v), xadd: (a, d) => m.xadd(a, d) };
}

function fakeHost(over: Partial<GuestHost> = {}): GuestHost & { samples: number[]; eois: number } {
  const samples: number[] = [];
  const host = {
    kicked: () => false,
    timerDue: () => false,
    interruptWindowRequested: () => false,
    wfxTrapped: () => true,
    pauseLoopExit: () => false,
    sample: (_c: string, v: number) => samples.push(v),
    eoi: () => host.eois++,
    hltInGuest: false,
    mwaitInGuest: false,
    idleInGuest: (): 0 => {
      throw new Error('no native idle on this fake host');
    },
    monitor: () => {},
    store: () => {},
    load: () => 0,
    cmpxchg: () => 0,
    xadd: () => 0,
    cpuId: () => 0,
    samples,
    eois: 0,
  };
  return Object.assign(host, over);
}

describe('the guest interpreter', () => {
  it('runs timer-latency as kvm-unit-tests does: arm the deadline, STI, HLT; the handler samples lateness and re-arms', () => {
    const cpu = new GuestCpu(timerLatency({ delta_ns: 50_000 }));
    const host = fakeHost();
    const t0 = now();
    expect(cpu.run(host)).toBe(GUEST_EXIT.MSR_WRITE);
    expect(cpu.exitMsr).toBe(MSR_IA32_TSC_DEADLINE);
    const deadline = cpu.exitValue;
    expect(deadline).toBeGreaterThanOrEqual(t0 + 50_000);
    expect(cpu.run(host)).toBe(GUEST_EXIT.HLT);
    expect(cpu.interruptsEnabled).toBe(true);
    // The timer fires: the vCPU injects the vector; the handler records lateness and re-arms.
    cpu.inject(LAPIC_TIMER_VECTOR);
    expect(cpu.interruptsEnabled).toBe(false);
    expect(cpu.run(host)).toBe(GUEST_EXIT.MSR_WRITE);
    expect(host.samples).toHaveLength(1);
    expect(host.eois).toBe(0); // the handler EOIs after re-arming

    expect(cpu.exitValue - (deadline + host.samples[0])).toBe(50_000); // re-armed at entry TSC + delta
    // EOI, then iret returns to the idle loop, which halts again with interrupts enabled.
    expect(cpu.run(host)).toBe(GUEST_EXIT.HLT);
    expect(host.eois).toBe(1);
    expect(cpu.interruptsEnabled).toBe(true);
  });

  it('resumes an interrupted compute where it left off', () => {
    // On a fake clock that only moves when we say, so the test measures guest time, not the machine's.
    let t = 1_000_000;
    vi.spyOn(clock, 'now').mockImplementation(() => (t += 1_000));
    try {
      const a = new Assembler();
      a.label('entry').compute(2_000_000).hlt();
      const cpu = new GuestCpu(a.assemble('compute'));
      const start = t;
      let kicks = 0;
      const host = fakeHost({ kicked: () => t - start >= 500_000 && kicks++ === 0 });
      expect(cpu.run(host)).toBe(GUEST_EXIT.EXTERNAL_INTERRUPT);
      const ranFirst = t - start;
      t += 10_000_000; // the vCPU is away for 10 ms
      const resumed = t;
      expect(cpu.run(host)).toBe(GUEST_EXIT.HLT);
      // The second run did only what was left of the 2 ms, not another 2 ms.
      expect(ranFirst + (t - resumed)).toBeGreaterThanOrEqual(2_000_000);
      expect(ranFirst + (t - resumed)).toBeLessThan(2_010_000);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it('exits on the pCPU’s own deadline timer during compute, and on running off the end', () => {
    let t = 0;
    vi.spyOn(clock, 'now').mockImplementation(() => (t += 1_000)); // guest time only, not the machine's
    try {
      const a = new Assembler();
      a.label('entry').compute(1_000_000);
      const cpu = new GuestCpu(a.assemble('short'));
      const due = t + 200_000;
      expect(cpu.run(fakeHost({ timerDue: (at) => at >= due }))).toBe(GUEST_EXIT.PREEMPTION_TIMER);
      expect(t).toBeLessThan(300_000);
      expect(cpu.run(fakeHost())).toBe(GUEST_EXIT.SHUTDOWN);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it('exits for the interrupt window when it enables interrupts with one pending (idle=poll never halts)', () => {
    const a = new Assembler();
    a.label('entry').sti();
    a.label('idle').pause().jmp('idle');
    const cpu = new GuestCpu(a.assemble('poll'));
    let pending = true;
    expect(cpu.run(fakeHost({ interruptWindowRequested: () => pending }))).toBe(GUEST_EXIT.INTERRUPT_WINDOW);
    pending = false;
    const due = now() + 100_000;
    expect(cpu.run(fakeHost({ timerDue: (t) => t >= due }))).toBe(GUEST_EXIT.PREEMPTION_TIMER);
  });

  it('refuses an interrupt with no handler and an iret with no frame', () => {
    const a = new Assembler();
    a.label('entry').iret();
    const cpu = new GuestCpu(a.assemble('bad'));
    expect(() => cpu.inject(0x99)).toThrow(/no handler for vector 0x99/);
    expect(() => cpu.run(fakeHost())).toThrow(/iret with no interrupt frame/);
    expect(() => new Assembler().label('entry').jmp('nowhere').assemble('x')).toThrow(/undefined label nowhere/);
  });

  it('does LOCK CMPXCHG, LOCK XADD, loads and stores on guest RAM', () => {
    const ram = new Int32Array(GUEST_RAM_WORDS);
    const host = fakeHost(memoryHost(ram));
    ram[3] = 7;
    const a = new Assembler();
    a.label('entry').movi(0, 7).movi(1, 42).movi(2, 5);
    a.cmpxchg(3, 3, 0, 1); // [3] == 7: swapped, r3 = 7
    a.cmpxchg(4, 3, 0, 2); // [3] == 42 != 7: untouched, r4 = 42
    a.xadd(5, 4, 2).xadd(6, 4, 2); // [4]: 0 -> 5 -> 10; r5 = 0, r6 = 5
    a.stAt(9, 1).ldAt(7, 9).hlt();
    const cpu = new GuestCpu(a.assemble('ram'));
    expect(cpu.run(host)).toBe(GUEST_EXIT.HLT);
    expect([...cpu.regs.slice(3)]).toEqual([7, 42, 0, 5, 42]);
    expect([ram[3], ram[4], ram[9]]).toEqual([42, 10, 42]);
    // An absolute address outside shared guest RAM is refused when the program is loaded; a base
    // register reaches the per-CPU lines, and past the VM's memory the access is refused when made.
    expect(() => new GuestCpu(new Assembler().label('entry').ldAt(0, GUEST_RAM_WORDS).assemble('far'))).toThrow(/outside guest RAM/);
    expect(() => new GuestCpu(new Assembler().label('entry').movi(1, GUEST_RAM_WORDS).ld(0, 1).assemble('far')).run(host)).toThrow(/outside guest memory/);
  });

  it('asks the PLE control at every PAUSE with the retired-cycle count, and exits past the PAUSE', () => {
    const a = new Assembler();
    a.label('entry').movi(1, 1);
    a.label('spin').pause().ldAt(0, 0).jnz(1, 'spin');
    const ram = new Int32Array(GUEST_RAM_WORDS);
    const cpu = new GuestCpu(a.assemble('spin'));
    const cycles: number[] = [];
    const host = fakeHost({ ...memoryHost(ram), pauseLoopExit: (c) => cycles.push(c) === 4 });
    expect(cpu.run(host)).toBe(GUEST_EXIT.PAUSE_INSTRUCTION);
    expect(cycles).toEqual([2, 5, 8, 11]); // one cycle per instruction: movi, then 3 per iteration
    expect(cpu.pc).toBe(2); // resumes at the instruction after the PAUSE
  });
});
