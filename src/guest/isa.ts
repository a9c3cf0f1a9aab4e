import type { HaltpollParams } from './kernel/haltpoll.ts';
/**
 * The guest's instruction set: just enough of x86 for an idle loop, a timer
 * subsystem and measurement code. Eight registers hold doubles; the TSC runs at
 * 1 GHz on the shared clock, so guest cycles are nanoseconds.
 */

export const MSR_IA32_TSC_DEADLINE = 0x6e0;
/** KVM's paravirtual MSR: bit 0 = host halt polling enabled for this vCPU (reset value 1). */
export const MSR_KVM_POLL_CONTROL = 0x4b564d05;
export const TSC_KHZ = 1_000_000;

export type Reg = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** The guest's own measurement buffers (kvm-unit-tests keeps such arrays in guest memory). */
export const SAMPLE_CHANNELS = ['timer_lateness', 'io_latency', 'spin_time'] as const;
export type SampleChannel = (typeof SAMPLE_CHANNELS)[number];

export type Insn =
  | { op: 'compute'; ns: number } // guest work for ns of wall time; interruptible, resumes where it stopped
  | { op: 'hlt' }
  | { op: 'pause' } // cpu_relax() in a spin loop: exits (PAUSE_INSTRUCTION) when the loop outlasts the PLE window
  | { op: 'cpuidle' } // the guest kernel's cpuidle with the haltpoll governor: poll in guest mode, or HLT
  | { op: 'sti' }
  | { op: 'cli' }
  | { op: 'eoi' }
  | { op: 'iret' }
  | { op: 'rdtsc'; rd: Reg }
  | { op: 'movi'; rd: Reg; imm: number }
  | { op: 'addi'; rd: Reg; rs: Reg; imm: number }
  | { op: 'sub'; rd: Reg; ra: Reg; rb: Reg }
  | { op: 'wrmsr'; msr: number; rs: Reg }
  | { op: 'out'; port: number; rs: Reg } // an I/O port write: exits (IO_INSTRUCTION); a device's doorbell when KVM has an ioeventfd on the port
  | { op: 'jnz'; rs: Reg; to: number } // jump if the register is not 0
  | { op: 'rdpid'; rd: Reg } // this CPU's number (RDPID reads IA32_TSC_AUX, which Linux sets to it)
  | { op: 'sample'; channel: SampleChannel; rs: Reg }
  | { op: 'jmp'; to: number }
  // Guest RAM (guest-ram.ts), by word address: LOCK CMPXCHG (rd = old; store rs if old == ra), LOCK XADD (rd = old; add rs), MOV load and store.
  | { op: 'cmpxchg'; rd: Reg; addr: number; ra: Reg; rs: Reg }
  | { op: 'xadd'; rd: Reg; addr: number; rs: Reg }
  | { op: 'ld'; rd: Reg; addr: number }
  | { op: 'st'; addr: number; rs: Reg };

export interface GuestProgram {
  readonly name: string;
  readonly code: readonly Insn[];
  readonly entry: number;
  /** Interrupt vector -> handler address (the IDT). */
  readonly idt: Readonly<Record<number, number>>;
  /** The cpuidle-haltpoll governor's module parameters, when the guest loads it. */
  readonly haltpoll?: HaltpollParams;
}
