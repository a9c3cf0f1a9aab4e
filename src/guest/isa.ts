import type { HaltpollParams } from './kernel/haltpoll.ts';
import type { Clockevent } from './kernel/clockevent.ts';
/**
 * The guest's instruction set: just enough of x86 (and arm64's WFI/WFE) for an
 * idle loop, a timer subsystem and measurement code. Eight registers hold doubles; the TSC runs at
 * 1 GHz on the shared clock, so guest cycles are nanoseconds.
 */

export const MSR_IA32_TSC_DEADLINE = 0x6e0;
/** KVM's paravirtual MSR: bit 0 = host halt polling enabled for this vCPU (reset value 1). */
export const MSR_KVM_POLL_CONTROL = 0x4b564d05;
/** Proposal (lazy tscdeadline RFC, 2023, not merged): registers the guest's struct kvm_lazy_tscdeadline page. */
export const MSR_KVM_LAZY_TSCDEADLINE = 0x4b564d09;
/** Bit 0 of a PV MSR that registers a page: the feature is on. */
export const KVM_MSR_ENABLED = 1;
export const TSC_KHZ = 1_000_000;

export type Reg = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** The guest's own measurement buffers (kvm-unit-tests keeps such arrays in guest memory). */
export const SAMPLE_CHANNELS = ['timer_lateness', 'io_latency', 'spin_time'] as const;
export type SampleChannel = (typeof SAMPLE_CHANNELS)[number];

export type Insn =
  | { op: 'compute'; ns: number } // guest work for ns of wall time; interruptible, resumes where it stopped
  | { op: 'hlt' } // exits (HLT) unless KVM_X86_DISABLE_EXITS_HLT: then the vCPU halts in guest mode
  | { op: 'monitor'; ra: Reg } // MONITOR: arm the line holding guest address r[ra] (x86: RAX); exits unless MWAIT exits are disabled
  | { op: 'mwait' } // MWAIT: wait for a write to the armed line or an interrupt; intercepted, KVM emulates it as a NOP
  | { op: 'rdpid'; rd: Reg } // RDPID: this CPU's number (IA32_TSC_AUX, which Linux sets to it)
  | { op: 'wfi' } // arm64 wait for interrupt: traps (the halt path) or waits in guest mode, by HCR_EL2.TWI
  | { op: 'wfe' } // arm64 wait for event (a spin-wait's pause): traps (a yield) or waits briefly in guest mode, by HCR_EL2.TWE
  | { op: 'pause' } // cpu_relax() in a spin loop: exits (PAUSE_INSTRUCTION) when the loop outlasts the PLE window
  | { op: 'cpuidle' } // the guest kernel's cpuidle with the haltpoll governor: poll in guest mode, or HLT
  | { op: 'sti' }
  | { op: 'cli' }
  | { op: 'eoi' }
  | { op: 'iret' }
  | { op: 'rdtsc'; rd: Reg }
  | { op: 'movi'; rd: Reg; imm: number }
  | { op: 'addi'; rd: Reg; rs: Reg; imm: number }
  | { op: 'shli'; rd: Reg; rs: Reg; imm: number }
  | { op: 'sub'; rd: Reg; ra: Reg; rb: Reg }
  | { op: 'wrmsr'; msr: number; rs: Reg }
  | { op: 'out'; port: number; rs: Reg } // an I/O port write: exits (IO_INSTRUCTION); a device's doorbell when KVM has an ioeventfd on the port
  | { op: 'jnz'; rs: Reg; to: number } // jump if the register is not 0
  | { op: 'set_next_event'; rs: Reg } // the guest kernel's clockevents_program_event() at TSC deadline rs (kernel/clockevent.ts)
  | { op: 'sample'; channel: SampleChannel; rs: Reg }
  | { op: 'jmp'; to: number }
  // Guest memory (memory.ts), 32-bit words. ld/st address r[ra] + addr (a base register, main's
  // register-indirect form, and/or an absolute word address in shared guest RAM); cmpxchg/xadd an absolute
  // address: LOCK CMPXCHG (rd = old; store r[rs] if old == r[ra]), LOCK XADD (rd = old; add r[rs]). Every
  // write triggers a MONITOR armed on its line.
  | { op: 'cmpxchg'; rd: Reg; addr: number; ra: Reg; rs: Reg }
  | { op: 'xadd'; rd: Reg; addr: number; rs: Reg }
  | { op: 'ld'; rd: Reg; ra?: Reg; addr: number }
  | { op: 'st'; ra?: Reg; addr: number; rs: Reg };

export interface GuestProgram {
  readonly name: string;
  readonly code: readonly Insn[];
  readonly entry: number;
  /** Interrupt vector -> handler address (the IDT). */
  readonly idt: Readonly<Record<number, number>>;
  /** The cpuidle-haltpoll governor's module parameters, when the guest loads it. */
  readonly haltpoll?: HaltpollParams;
  /** The LAPIC clockevent's set_next_event the guest kernel chose at boot, when the program uses it. */
  readonly clockevent?: Clockevent;
}
