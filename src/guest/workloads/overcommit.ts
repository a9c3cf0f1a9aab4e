import { Assembler } from '../assembler.ts';
import type { GuestProgram } from '../isa.ts';
import { idleSetup, kernelOf, waitUntilSet, type GuestKernel } from '../kernel/idle.ts';
import { armTscDeadline, tscDeadlineIsr } from './timer-latency.ts';
import { LAPIC_TIMER_VECTOR } from '../kernel/vectors.ts';

/**
 * A partly busy guest for an overcommitted host (seeds/003): each vCPU works
 * for `busy_ns`, then waits for its next timer tick, `delta_ns` after the last
 * one was handled. It waits in its idle loop (WFI on arm64, HLT on x86), or,
 * with `wait: 'wfe'`, in a spin-wait on a flag the tick handler sets, with WFE
 * as the spin's pause (as arm64's smp_cond_load_acquire waits). Its real busy
 * share is busy / (busy + delta + wake latency): what the host scheduler's
 * utilisation should come close to.
 *
 * Registers: r1 the armed deadline, r5 "ticked" (set by the handler).
 */
export function overcommit({ delta_ns, busy_ns, wait, kernel }: { delta_ns: number; busy_ns: number; wait: 'idle' | 'wfe'; kernel?: GuestKernel }): GuestProgram {
  const a = new Assembler();
  armTscDeadline(a, delta_ns);
  idleSetup(a, kernel?.idle);
  a.label('work').movi(5, 0).compute(busy_ns);
  // smp_cond_load_acquire(): WFE only pauses the spin (the event stream bounds it), so interrupts stay on.
  if (wait === 'wfe') a.label('wait').jnz(5, 'work').wfe().jmp('wait');
  else waitUntilSet(a, 5, kernel?.idle, kernel?.arch).jmp('work'); // checked with interrupts off: no lost tick
  // The tick: the timer-latency handler (lateness sample, re-arm delta ahead), plus the flag.
  a.label('tick').movi(5, 1).jmp('tsc_deadline_isr');
  tscDeadlineIsr(a, delta_ns);
  // The timer vector enters at `tick` (this replaces the handler tscDeadlineIsr installed).
  a.handler(LAPIC_TIMER_VECTOR, 'tick');
  return a.assemble('overcommit', 'entry', kernelOf(kernel));
}
