import { Assembler } from '../assembler.ts';
import type { GuestProgram } from '../isa.ts';
import { MSR_IA32_TSC_DEADLINE } from '../isa.ts';
import { LAPIC_TIMER_VECTOR } from '../kernel/vectors.ts';
import { idleSetup, kernelOf, waitUntilSet, type GuestKernel } from '../kernel/idle.ts';

/**
 * The guest of the deferred-work workload: each vCPU is busy for busy_ns,
 * then idle until its timer fires idle_ns later, over and over: idle periods
 * the VMM may use (seeds/000) when HLT or MWAIT exits to it. The timer handler
 * sets r5, which ends the wait (registers: r1 the deadline).
 */
export function deferredWorkGuest({ busy_ns, idle_ns, kernel }: { busy_ns: number; idle_ns: number; kernel?: GuestKernel }): GuestProgram {
  const a = new Assembler();
  a.label('entry');
  idleSetup(a, kernel?.idle);
  a.sti();
  a.label('busy').compute(busy_ns).movi(5, 0).rdtsc(1).addi(1, 1, idle_ns).wrmsr(MSR_IA32_TSC_DEADLINE, 1);
  waitUntilSet(a, 5, kernel?.idle, kernel?.arch).jmp('busy'); // idle until the tick (checked with interrupts off: no lost wakeup)
  a.label('tick').rdtsc(2).sub(3, 2, 1).sample('timer_lateness', 3).movi(5, 1).eoi().iret().handler(LAPIC_TIMER_VECTOR, 'tick');
  return a.assemble('deferred-work', 'entry', kernelOf(kernel));
}
