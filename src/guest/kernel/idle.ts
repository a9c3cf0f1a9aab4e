import type { Assembler } from '../assembler.ts';
import { MSR_KVM_POLL_CONTROL, type GuestProgram, type Reg } from '../isa.ts';
import type { HaltpollParams } from './haltpoll.ts';
import { GUEST_LINE_WORDS, GUEST_RAM_WORDS } from '../memory.ts';

/** The guest kernel's idle loop (label `idle`), by its boot-time choice. */
export type GuestIdle = 'halt' | 'poll' | 'haltpoll' | 'mwait';

export interface GuestKernel {
  idle: GuestIdle;
  /** The cpuidle-haltpoll governor's parameters (used when idle is haltpoll). */
  haltpoll: HaltpollParams;
  /** The architecture the guest kernel is built for: its default_idle is HLT on x86, WFI on arm64. */
  arch?: 'x86' | 'arm64';
  /** KVM_FEATURE_LAZY_TSCDEADLINE found in CPUID at boot (the host opted in to that proposal). */
  pv_lazy_tscdeadline?: boolean;
}

/**
 * `halt`: default_idle, HLT with interrupts enabled, forever: each idle period
 * is a HLT exit, and KVM's halt path decides whether to poll or sleep.
 * `poll`: the `idle=poll` boot parameter: the idle loop spins (cpu_relax) and
 * never executes HLT; a full core burnt, the fastest wake. Its PAUSE loop meets
 * PLE exits until the vCPU's PLE window has grown longer than its idle periods.
 * `haltpoll`: the cpuidle-haltpoll driver and governor: the guest polls in
 * guest mode for an adaptive window, then halts. Loading the driver writes
 * MSR_KVM_POLL_CONTROL = 0, which turns host halt polling off for the vCPU.
 * `mwait`: intel_idle / mwait_idle_with_hints: MONITOR this CPU's idle flags
 * word, then MWAIT; a write to that line or an interrupt ends it. Intercepted
 * (mainline's default) both exit and are NOPs, so the loop spins through exits.
 * r6 holds the flags word's address: this CPU's line of guest memory.
 */
export function idleLoop(a: Assembler, idle: GuestIdle = 'halt', arch: GuestKernel['arch'] = 'x86'): Assembler {
  idleSetup(a, idle);
  a.label('idle');
  return idleStep(a, idle, arch).jmp('idle');
}

/**
 * What the idle driver does once at boot: cpuidle-haltpoll's arch_haltpoll_enable();
 * mwait_idle's per-CPU line to monitor (r6 = &per_cpu(idle flags): guestIdleLine(cpu), after shared RAM).
 */
export function idleSetup(a: Assembler, idle: GuestIdle = 'halt'): Assembler {
  if (idle === 'haltpoll') return a.movi(7, 0).wrmsr(MSR_KVM_POLL_CONTROL, 7);
  if (idle === 'mwait') return a.rdpid(6).shli(6, 6, Math.log2(GUEST_LINE_WORDS)).addi(6, 6, GUEST_RAM_WORDS); // guestIdleLine(cpu)
  return a;
}

/** One pass of the idle loop's body, for code that idles until its own condition holds (a wait loop). */
export function idleStep(a: Assembler, idle: GuestIdle = 'halt', arch: GuestKernel['arch'] = 'x86'): Assembler {
  if (idle === 'mwait') return a.monitor(6).mwait();
  if (idle === 'poll') return a.pause();
  if (idle === 'haltpoll') return a.cpuidle();
  return arch === 'arm64' ? a.wfi() : a.hlt(); // arm64's cpu_do_idle(): WFI
}

/**
 * wait_for_completion() / wait_event(): idle until an interrupt handler has set
 * register `flag`, then fall through with interrupts enabled. Race-free the way
 * Linux's idle entry is: the flag is checked with interrupts off, and the idle
 * instruction is entered so that an interrupt arriving after the check still
 * ends it. With interrupts on, a handler run between the check and the idle
 * instruction (the vCPU kicked out of guest mode, the interrupt injected at
 * re-entry, its handler returning to the HLT) would leave the guest halted with
 * nothing pending: a lost wakeup. `wait` names the loop's label (`<wait>_done`: its exit).
 *
 * - halt (x86): `cli; check; sti; hlt` (safe_halt: STI's interrupt shadow makes
 *   STI+HLT atomic; a pending interrupt ends the HLT at once).
 * - halt (arm64): `cli; check; wfi; sti`: cpu_do_idle() runs with IRQs masked;
 *   a pending IRQ still ends WFI (and makes the vCPU runnable: kvm_arch_vcpu_runnable
 *   ignores PSTATE.I), and it is taken when the guest unmasks: the vGIC holds it
 *   in a list register, no exit (VcpuGuestHost.interruptWindowRequested).
 * - mwait: `cli; check; monitor; sti; mwait` (mwait_idle()'s __sti_mwait: the
 *   STI shadow covers MWAIT, in guest mode or intercepted).
 * - haltpoll: `cli; check; cpuidle`: cpuidle_idle_call() is entered with IRQs off;
 *   the cpuidle op enables them as poll_idle() does, or halts by STI; HLT.
 * - poll: idle=poll spins with interrupts on (cpu_idle_poll): it never blocks,
 *   so the next pass of the check sees the flag; no cli needed.
 */
export function waitUntilSet(a: Assembler, flag: Reg, idle: GuestIdle = 'halt', arch: GuestKernel['arch'] = 'x86', wait = 'wait'): Assembler {
  const done = `${wait}_done`;
  a.label(wait);
  if (idle === 'poll') return a.jnz(flag, done).pause().jmp(wait).label(done);
  a.cli().jnz(flag, done);
  if (idle === 'mwait') a.monitor(6).sti().mwait();
  else if (idle === 'haltpoll') a.cpuidle();
  else if (arch === 'arm64') a.wfi().sti();
  else a.sti().hlt();
  return a.jmp(wait).label(done).sti();
}

/** What a program carries about its guest kernel. */
export const kernelOf = (k: GuestKernel | undefined): Pick<GuestProgram, 'haltpoll'> => (k?.idle === 'haltpoll' ? { haltpoll: k.haltpoll } : {});
