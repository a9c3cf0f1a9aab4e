import type { Assembler } from '../assembler.ts';
import { MSR_KVM_POLL_CONTROL, type GuestProgram } from '../isa.ts';
import type { HaltpollParams } from './haltpoll.ts';

/** The guest kernel's idle loop (label `idle`), by its boot-time choice. */
export type GuestIdle = 'halt' | 'poll' | 'haltpoll';

export interface GuestKernel {
  idle: GuestIdle;
  /** The cpuidle-haltpoll governor's parameters (used when idle is haltpoll). */
  haltpoll: HaltpollParams;
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
 */
export function idleLoop(a: Assembler, idle: GuestIdle = 'halt'): Assembler {
  idleSetup(a, idle);
  a.label('idle');
  return idleStep(a, idle).jmp('idle');
}

/** What the idle driver does once at boot: cpuidle-haltpoll's arch_haltpoll_enable(). */
export function idleSetup(a: Assembler, idle: GuestIdle = 'halt'): Assembler {
  return idle === 'haltpoll' ? a.movi(7, 0).wrmsr(MSR_KVM_POLL_CONTROL, 7) : a;
}

/** One pass of the idle loop's body, for code that idles until its own condition holds (a wait loop). */
export function idleStep(a: Assembler, idle: GuestIdle = 'halt'): Assembler {
  if (idle === 'poll') return a.pause();
  if (idle === 'haltpoll') return a.cpuidle();
  return a.hlt();
}

/** What a program carries about its guest kernel. */
export const kernelOf = (k: GuestKernel | undefined): Pick<GuestProgram, 'haltpoll'> => (k?.idle === 'haltpoll' ? { haltpoll: k.haltpoll } : {});
