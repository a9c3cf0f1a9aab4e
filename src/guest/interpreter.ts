import { now } from '../actors/clock.ts';
import type { GuestProgram, Insn, SampleChannel } from './isa.ts';
import { checkGuestAddress } from './guest-ram.ts';
import { CPUIDLE_STATE, haltpollReflect, haltpollSelect, newHaltpollCpu, type HaltpollCpu } from './kernel/haltpoll.ts';

/**
 * Executes guest code on the vCPU thread until something makes it leave guest
 * mode: an intercepted instruction (HLT, WRMSR), an asynchronous exit (a kick
 * flipped vcpu->mode), or the deadline timer of its own pCPU coming due.
 */

export const GUEST_EXIT = {
  HLT: 1,
  MSR_WRITE: 2,
  EXTERNAL_INTERRUPT: 3, // kicked: vcpu->mode left IN_GUEST_MODE
  PREEMPTION_TIMER: 4,
  SHUTDOWN: 5, // ran off the end of the program
  INTERRUPT_WINDOW: 6, // IF became 1 while KVM had an interrupt waiting to inject
  IO_INSTRUCTION: 7, // OUT to an I/O port
  PAUSE_INSTRUCTION: 8, // PAUSE-loop exiting: a spin loop outlasted the PLE window
} as const;
export type GuestExit = (typeof GUEST_EXIT)[keyof typeof GUEST_EXIT];

/** What guest execution needs from the vCPU it runs on. */
export interface GuestHost {
  /** True once a kick asked the vCPU to leave guest mode. Checked at every instruction boundary. */
  kicked(): boolean;
  /** True when the deadline timer owned by this pCPU has come due at `at`. */
  timerDue(at: number): boolean;
  /**
   * True when an interrupt is pending that could not be injected because IF
   * was 0: KVM then sets interrupt-window exiting, so the guest exits as soon
   * as it enables interrupts.
   */
  interruptWindowRequested(): boolean;
  /** End of interrupt: the guest's handler acknowledged the interrupt in service (LAPIC EOI register write). */
  eoi(): void;
  /** The guest stored a measurement. */
  sample(channel: SampleChannel, value: number): void;
  /**
   * The VMX PAUSE-loop-exiting control, asked at each PAUSE: `cycles` is the
   * guest's retired-cycle count (the gap's measure), `at` the time. True: exit.
   */
  pauseLoopExit(cycles: number, at: number): boolean;
}

interface Frame {
  pc: number;
  computeLeft: number;
}

export class GuestCpu {
  readonly regs = new Float64Array(8);
  pc: number;
  /** RFLAGS.IF */
  interruptsEnabled = false;
  /** Payload of the last MSR_WRITE exit (exitMsr, exitValue) or IO_INSTRUCTION exit (exitPort, exitValue). */
  exitMsr = 0;
  exitPort = 0;
  exitValue = 0;
  /** Remaining ns of an interrupted `compute`, or NaN when none is in progress. */
  private computeLeft = Number.NaN;
  private readonly frames: Frame[] = [];
  private readonly code: readonly Insn[];
  /** Guest RAM shared by the VM's vCPUs (guest-ram.ts), or null when the VM has none. */
  private readonly ram: Int32Array | null;
  /** Guest cycles retired: one per instruction, plus each compute's ns (what the PLE gap counts). */
  retired = 0;
  /** Interrupts delivered so far (what ends a cpuidle poll: need_resched after a wakeup). */
  private interrupts = 0;
  /** The cpuidle-haltpoll governor's per-CPU state, when the guest loaded it. */
  readonly haltpoll: HaltpollCpu | null;

  constructor(
    private readonly program: GuestProgram,
    /** This vCPU's number, as the guest kernel knows it (RDPID). */
    private readonly cpu = 0,
    ram: Int32Array | null = null,
  ) {
    this.ram = ram;
    for (const i of program.code) if ('addr' in i) checkGuestAddress(i.addr, program.name);
    this.code = program.code;
    this.pc = program.entry;
    this.haltpoll = program.haltpoll ? newHaltpollCpu(program.haltpoll) : null;
  }

  /** Deliver an interrupt: push a frame, clear IF, jump to the vector's handler (an interrupt gate). */
  inject(vector: number): void {
    const handler = this.program.idt[vector];
    if (handler === undefined) throw new Error(`guest ${this.program.name} has no handler for vector 0x${vector.toString(16)}`);
    this.frames.push({ pc: this.pc, computeLeft: this.computeLeft });
    this.interrupts++;
    this.computeLeft = Number.NaN;
    this.pc = handler;
    this.interruptsEnabled = false;
  }

  run(host: GuestHost): GuestExit {
    const code = this.code;
    const r = this.regs;
    for (;;) {
      if (host.kicked()) return GUEST_EXIT.EXTERNAL_INTERRUPT;
      const i = code[this.pc];
      if (i === undefined) return GUEST_EXIT.SHUTDOWN;
      this.retired++;
      switch (i.op) {
        case 'compute': {
          const left = Number.isNaN(this.computeLeft) ? i.ns : this.computeLeft;
          const end = now() + left;
          for (;;) {
            const t = now();
            if (t >= end) break;
            if (host.kicked()) {
              this.computeLeft = end - t;
              return GUEST_EXIT.EXTERNAL_INTERRUPT;
            }
            if (host.timerDue(t)) {
              this.computeLeft = end - t;
              return GUEST_EXIT.PREEMPTION_TIMER;
            }
          }
          this.computeLeft = Number.NaN;
          this.retired += i.ns;
          this.pc++;
          break;
        }
        case 'hlt':
          this.pc++; // RIP is past the HLT when the exit is reported
          return GUEST_EXIT.HLT;
        case 'cpuidle': {
          const r = this.cpuidle(host);
          if (r !== 0) return r;
          break;
        }
        case 'pause': {
          // A spinning guest still takes its own pCPU's deadline timer (the preemption timer exit).
          const t = now();
          if (host.timerDue(t)) return GUEST_EXIT.PREEMPTION_TIMER;
          this.pc++; // KVM skips the PAUSE after a PLE exit (kvm_skip_emulated_instruction)
          if (host.pauseLoopExit(this.retired, t)) return GUEST_EXIT.PAUSE_INSTRUCTION;
          break;
        }
        case 'cmpxchg':
          r[i.rd] = Atomics.compareExchange(this.memory(), i.addr, r[i.ra], r[i.rs]);
          this.pc++;
          break;
        case 'xadd':
          r[i.rd] = Atomics.add(this.memory(), i.addr, r[i.rs]);
          this.pc++;
          break;
        case 'ld':
          r[i.rd] = Atomics.load(this.memory(), i.addr);
          this.pc++;
          break;
        case 'st':
          Atomics.store(this.memory(), i.addr, r[i.rs]);
          this.pc++;
          break;
        case 'sti':
          this.interruptsEnabled = true;
          this.pc++;
          if (host.interruptWindowRequested()) return GUEST_EXIT.INTERRUPT_WINDOW;
          break;
        case 'cli':
          this.interruptsEnabled = false;
          this.pc++;
          break;
        case 'eoi':
          host.eoi();
          this.pc++;
          break;
        case 'iret': {
          const f = this.frames.pop();
          if (!f) throw new Error(`guest ${this.program.name}: iret with no interrupt frame at pc ${this.pc}`);
          this.pc = f.pc;
          this.computeLeft = f.computeLeft;
          this.interruptsEnabled = true;
          if (host.interruptWindowRequested()) return GUEST_EXIT.INTERRUPT_WINDOW;
          break;
        }
        case 'rdtsc':
          r[i.rd] = now();
          this.pc++;
          break;
        case 'movi':
          r[i.rd] = i.imm;
          this.pc++;
          break;
        case 'addi':
          r[i.rd] = r[i.rs] + i.imm;
          this.pc++;
          break;
        case 'sub':
          r[i.rd] = r[i.ra] - r[i.rb];
          this.pc++;
          break;
        case 'wrmsr':
          this.exitMsr = i.msr;
          this.exitValue = r[i.rs];
          this.pc++;
          return GUEST_EXIT.MSR_WRITE;
        case 'out':
          this.exitPort = i.port;
          this.exitValue = r[i.rs];
          this.pc++;
          return GUEST_EXIT.IO_INSTRUCTION;
        case 'rdpid':
          r[i.rd] = this.cpu;
          this.pc++;
          break;
        case 'jnz':
          this.pc = r[i.rs] !== 0 ? i.to : this.pc + 1;
          break;
        case 'sample':
          host.sample(i.channel, r[i.rs]);
          this.pc++;
          break;
        case 'jmp':
          this.pc = i.to;
          break;
      }
    }
  }

  /**
   * One step of cpuidle_idle_call() with the haltpoll governor. Returns an exit
   * to leave guest mode (the instruction resumes where it was), or 0 when the
   * idle period is over and the idle loop goes on.
   */
  private cpuidle(host: GuestHost): GuestExit | 0 {
    const g = this.haltpoll;
    if (!g) throw new Error(`guest ${this.program.name}: cpuidle without the haltpoll driver`);
    if (g.phase === 'select') {
      g.enteredAt = now();
      if (haltpollSelect(g.dev) === CPUIDLE_STATE.HALT) {
        // default_idle: STI; HLT. Resumed here once woken (the handler has run): then reflect.
        g.phase = 'halted';
        g.counts.halts++;
        return GUEST_EXIT.HLT;
      }
      g.phase = 'polling';
      g.counts.polls++;
      g.interruptsAtStart = this.interrupts;
    }
    if (g.phase === 'halted') {
      haltpollReflect(g.dev, CPUIDLE_STATE.HALT, now() - g.enteredAt, g.params);
      return this.endIdle(g);
    }
    // poll_idle(): spin until an interrupt woke something up, or the poll limit passes.
    for (;;) {
      if (this.interrupts !== g.interruptsAtStart) {
        g.dev.poll_time_limit = false;
        break;
      }
      const t = now();
      if (t - g.enteredAt >= g.dev.poll_limit_ns) {
        g.dev.poll_time_limit = true;
        g.counts.polls_timed_out++;
        break;
      }
      if (host.kicked()) return GUEST_EXIT.EXTERNAL_INTERRUPT;
      if (host.timerDue(t)) return GUEST_EXIT.PREEMPTION_TIMER;
    }
    haltpollReflect(g.dev, CPUIDLE_STATE.POLL, 0, g.params);
    return this.endIdle(g);
  }

  private memory(): Int32Array {
    if (!this.ram) throw new Error(`guest ${this.program.name} touches guest RAM, but its VM has none`);
    return this.ram;
  }

  private endIdle(g: HaltpollCpu): 0 {
    g.phase = 'select';
    this.pc++;
    return 0;
  }
}
