import type { Assembler } from '../assembler.ts';

/** The guest kernel's idle loop (label `idle`), by its boot-time choice. */
export type GuestIdle = 'halt' | 'poll';

/**
 * `halt`: default_idle, HLT with interrupts enabled, forever: each idle period
 * is a HLT exit, and KVM's halt path decides whether to poll or sleep.
 * `poll`: the `idle=poll` boot parameter: the idle loop spins (cpu_relax) and
 * never executes HLT; no exits while idle, a full core burnt, the fastest wake.
 */
export function idleLoop(a: Assembler, idle: GuestIdle = 'halt'): Assembler {
  a.label('idle');
  return idle === 'poll' ? a.pause().jmp('idle') : a.hlt().jmp('idle');
}
