import { now } from '../actors/clock.ts';
import { MSR_IA32_TSC_DEADLINE, type GuestProgram, type Insn, type SampleChannel } from './isa.ts';
import { checkGuestAddress } from './memory.ts';
import { CPUIDLE_STATE, haltpollReflect, haltpollSelect, newHaltpollCpu, type HaltpollCpu } from './kernel/haltpoll.ts';
import { kvmLapicNextDeadline, newClockeventCpu, type ClockeventCpu, type LazyTscdeadlinePage } from './kernel/clockevent.ts';

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
  MWAIT_INSTRUCTION: 7, // MWAIT intercepted (RIP already past it)
  MONITOR_INSTRUCTION: 8, // MONITOR intercepted (RIP already past it)
  IO_INSTRUCTION: 9, // OUT to an I/O port
  WFI: 10, // arm64: a trapped WFI (ESR_ELx_EC_WFx)
  WFE: 11, // arm64: a trapped WFE (ESR_ELx_EC_WFx)
  PAUSE_INSTRUCTION: 12, // PAUSE-loop exiting: a spin loop outlasted the PLE window
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
  /** arm64: whether WFE (`wfe` true) or WFI traps, as HCR_EL2.TWE/TWI were set at the last vcpu_load. */
  wfxTrapped(wfe: boolean): boolean;
  /** KVM_X86_DISABLE_EXITS_HLT: HLT runs in guest mode, no exit. */
  readonly hltInGuest: boolean;
  /** KVM_X86_DISABLE_EXITS_MWAIT: MONITOR and MWAIT run in guest mode, no exit. */
  readonly mwaitInGuest: boolean;
  /**
   * A native HLT or MWAIT (x86), or an untrapped WFI/WFE (arm64): wait in
   * guest mode, the pCPU kept, until something ends it. Returns 0 when the
   * guest goes on without an exit (an interrupt was delivered into it, posted,
   * and `inject` was called; or MWAIT's monitor was triggered; or WFI/WFE's
   * wakeup event came), or the exit that takes the vCPU out of guest mode: HLT
   * and MWAIT still waiting, WFI/WFE completed. `entering`: first call for this instruction.
   */
  idleInGuest(kind: 'hlt' | 'mwait' | 'wfi' | 'wfe', entering: boolean): GuestExit | 0;
  /** A native MONITOR of the line holding guest address `addr`. */
  monitor(addr: number): void;
  /** Guest memory (its map: memory.ts), one for the VM: a store, a load, LOCK CMPXCHG and LOCK XADD. */
  store(addr: number, value: number): void;
  load(addr: number): number;
  cmpxchg(addr: number, expected: number, value: number): number;
  xadd(addr: number, delta: number): number;
  /** This CPU's number. */
  cpuId(): number;
}

/** Guest memory shared with the host beyond the program: the PV pages the guest kernel registers. */
export interface GuestPvPages {
  lazyTscdeadline?: LazyTscdeadlinePage;
}
/** The CPU's activity state (VMCS guest activity state): active, or waiting in HLT or MWAIT. */
const ACTIVITY = { ACTIVE: 0, HLT: 1, MWAIT: 2 } as const;
type Activity = (typeof ACTIVITY)[keyof typeof ACTIVITY];

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
  /** Wall time spent executing `compute` (the guest's real work), ns. */
  computeNs = 0;
  /** Remaining ns of an interrupted `compute`, or NaN when none is in progress. */
  private computeLeft = Number.NaN;
  private readonly frames: Frame[] = [];
  private readonly code: readonly Insn[];
  /** Guest cycles retired: one per instruction, plus each compute's ns (what the PLE gap counts). */
  retired = 0;
  /** Interrupts delivered so far (what ends a cpuidle poll: need_resched after a wakeup). */
  private interrupts = 0;
  /** The cpuidle-haltpoll governor's per-CPU state, when the guest loaded it. */
  readonly haltpoll: HaltpollCpu | null;
  /** The LAPIC clockevent the guest kernel set up, when the program uses it. */
  readonly clockevent: ClockeventCpu | null;
  /** Waiting in a native HLT/MWAIT at pc; an interrupt delivered in this state returns past it. */
  private activity: Activity = ACTIVITY.ACTIVE;

  constructor(
    private readonly program: GuestProgram,
    memory: GuestPvPages = {},
  ) {
    // An absolute address names shared guest RAM; ld/st with a base register reach any line at run time.
    for (const i of program.code) if ((i.op === 'cmpxchg' || i.op === 'xadd' || i.op === 'ld' || i.op === 'st') && (!('ra' in i) || i.op === 'cmpxchg' || i.ra === undefined)) checkGuestAddress(i.addr, program.name);
    this.code = program.code;
    this.pc = program.entry;
    this.haltpoll = program.haltpoll ? newHaltpollCpu(program.haltpoll) : null;
    this.clockevent = program.clockevent ? newClockeventCpu(program.clockevent, memory.lazyTscdeadline) : null;
  }

  /** Deliver an interrupt: push a frame, clear IF, jump to the vector's handler (an interrupt gate). */
  inject(vector: number): void {
    const handler = this.program.idt[vector];
    if (handler === undefined) throw new Error(`guest ${this.program.name} has no handler for vector 0x${vector.toString(16)}`);
    if (this.activity !== ACTIVITY.ACTIVE) {
      this.pc++; // the interrupt wakes the HLT/MWAIT: it returns to the next instruction
      this.activity = ACTIVITY.ACTIVE;
    }
    this.frames.push({ pc: this.pc, computeLeft: this.computeLeft });
    this.interrupts++;
    this.computeLeft = Number.NaN;
    this.pc = handler;
    this.interruptsEnabled = false;
  }

  run(host: GuestHost): GuestExit {
    const code = this.code;
    const r = this.regs;
    // Blocking by STI: the instruction after an STI that set IF runs before any interrupt, a kick's exit included.
    let stiShadow = false;
    for (;;) {
      if (stiShadow) stiShadow = false;
      else if (host.kicked()) return GUEST_EXIT.EXTERNAL_INTERRUPT;
      const i = code[this.pc];
      if (i === undefined) return GUEST_EXIT.SHUTDOWN;
      this.retired++;
      switch (i.op) {
        case 'compute': {
          const left = Number.isNaN(this.computeLeft) ? i.ns : this.computeLeft;
          const start = now();
          const end = start + left;
          for (;;) {
            const t = now();
            if (t >= end) break;
            if (host.kicked()) {
              this.computeLeft = end - t;
              this.computeNs += t - start;
              return GUEST_EXIT.EXTERNAL_INTERRUPT;
            }
            if (host.timerDue(t)) {
              this.computeLeft = end - t;
              this.computeNs += t - start;
              return GUEST_EXIT.PREEMPTION_TIMER;
            }
          }
          this.computeNs += left;
          this.computeLeft = Number.NaN;
          this.retired += i.ns;
          this.pc++;
          break;
        }
        case 'hlt': {
          if (!host.hltInGuest) {
            this.pc++; // RIP is past the HLT when the exit is reported
            return GUEST_EXIT.HLT;
          }
          const x = this.waitInGuest(host, ACTIVITY.HLT);
          if (x !== 0) return x;
          break;
        }
        case 'mwait': {
          if (!host.mwaitInGuest) {
            this.pc++; // kvm_emulate_mwait skips it: a NOP
            return GUEST_EXIT.MWAIT_INSTRUCTION;
          }
          const x = this.waitInGuest(host, ACTIVITY.MWAIT);
          if (x !== 0) return x;
          break;
        }
        case 'monitor':
          this.pc++;
          if (!host.mwaitInGuest) return GUEST_EXIT.MONITOR_INSTRUCTION; // kvm_emulate_monitor: a NOP, nothing armed
          host.monitor(r[i.ra]);
          break;
        case 'rdpid':
          r[i.rd] = host.cpuId();
          this.pc++;
          break;
        case 'shli':
          r[i.rd] = r[i.rs] * 2 ** i.imm;
          this.pc++;
          break;
        case 'wfi':
        case 'wfe': {
          const wfe = i.op === 'wfe';
          if (host.wfxTrapped(wfe)) {
            this.pc++; // trapped: KVM skips it (kvm_incr_pc)
            return wfe ? GUEST_EXIT.WFE : GUEST_EXIT.WFI;
          }
          // Untrapped: waits in guest mode as a native HLT does (one wait and wake path, KvmVcpu.idleInGuest),
          // but completes on its wakeup event whether or not that is an exit: the guest re-executes it if it wants.
          this.pc++;
          const x = host.idleInGuest(i.op, true);
          if (x !== 0) return x;
          break;
        }
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
          r[i.rd] = host.cmpxchg(i.addr, r[i.ra] | 0, r[i.rs] | 0);
          this.pc++;
          break;
        case 'xadd':
          r[i.rd] = host.xadd(i.addr, r[i.rs] | 0);
          this.pc++;
          break;
        case 'ld':
          r[i.rd] = host.load((i.ra === undefined ? 0 : r[i.ra]) + i.addr);
          this.pc++;
          break;
        case 'st':
          host.store((i.ra === undefined ? 0 : r[i.ra]) + i.addr, r[i.rs] | 0);
          this.pc++;
          break;
        case 'sti': {
          this.interruptsEnabled = true;
          this.pc++;
          // STI's interrupt shadow covers the next instruction: `sti; hlt` (safe_halt) and `sti; mwait`
          // (__sti_mwait) enter the idle state before any interrupt is taken, and one already pending
          // then ends it at once (KVM's halt path, or the wait in guest mode, sees it): no wakeup is lost
          // between a check made with interrupts off and the idle instruction.
          const next = code[this.pc]?.op;
          if (next === 'hlt' || next === 'mwait') {
            stiShadow = true;
            break;
          }
          if (host.interruptWindowRequested()) return GUEST_EXIT.INTERRUPT_WINDOW;
          break;
        }
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
        case 'jnz':
          this.pc = r[i.rs] !== 0 ? i.to : this.pc + 1;
          break;
        case 'set_next_event': {
          const ce = this.clockevent;
          if (!ce) throw new Error(`guest ${this.program.name}: set_next_event without a LAPIC clockevent`);
          this.pc++;
          ce.counts.set_next_event++;
          if (ce.page && !kvmLapicNextDeadline(ce.page, r[i.rs])) {
            ce.counts.pending_only++;
            break;
          }
          this.exitMsr = MSR_IA32_TSC_DEADLINE;
          this.exitValue = r[i.rs];
          return GUEST_EXIT.MSR_WRITE;
        }
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

  /** A native HLT/MWAIT at pc. 0: it is over and the guest goes on; else the exit that interrupts it. */
  private waitInGuest(host: GuestHost, kind: typeof ACTIVITY.HLT | typeof ACTIVITY.MWAIT): GuestExit | 0 {
    const entering = this.activity === ACTIVITY.ACTIVE;
    this.activity = kind;
    const x = host.idleInGuest(kind === ACTIVITY.HLT ? 'hlt' : 'mwait', entering);
    if (x !== 0) return x; // still waiting: re-entry resumes the wait, unless an injection ends it
    if (this.activity === kind) {
      // MWAIT's monitor triggered (an injected interrupt has already moved pc on).
      this.activity = ACTIVITY.ACTIVE;
      this.pc++;
    }
    return 0;
  }

  /**
   * One step of cpuidle_idle_call() with the haltpoll governor. Returns an exit
   * to leave guest mode (the instruction resumes where it was), or 0 when the
   * idle period is over and the idle loop goes on, with interrupts enabled.
   * It may be entered with interrupts off, as Linux's idle loop enters it after
   * checking need_resched (idle.ts waitUntilSet): both states then enable them
   * so that an interrupt already pending ends the idle period at once.
   */
  private cpuidle(host: GuestHost): GuestExit | 0 {
    const g = this.haltpoll;
    if (!g) throw new Error(`guest ${this.program.name}: cpuidle without the haltpoll driver`);
    if (g.phase === 'select') {
      g.enteredAt = now();
      if (haltpollSelect(g.dev) === CPUIDLE_STATE.HALT) {
        if (host.hltInGuest) throw new Error(`guest ${this.program.name}: cpuidle-haltpoll with HLT exits disabled is not modelled`);
        // default_idle: STI; HLT (the shadow: a pending interrupt ends the HLT in KVM's halt path).
        // Resumed here once woken (the handler has run): then reflect.
        this.interruptsEnabled = true;
        g.phase = 'halted';
        g.counts.halts++;
        return GUEST_EXIT.HLT;
      }
      g.phase = 'polling';
      g.counts.polls++;
      g.interruptsAtStart = this.interrupts;
      // poll_idle(): local_irq_enable(), then spin; an interrupt already pending is taken now.
      if (!this.interruptsEnabled) {
        this.interruptsEnabled = true;
        if (host.interruptWindowRequested()) return GUEST_EXIT.INTERRUPT_WINDOW;
      }
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

  private endIdle(g: HaltpollCpu): 0 {
    g.phase = 'select';
    this.pc++;
    return 0;
  }
}
