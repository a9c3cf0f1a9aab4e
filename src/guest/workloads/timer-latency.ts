import { Assembler } from '../assembler.ts';
import type { GuestProgram } from '../isa.ts';
import { MSR_IA32_TSC_DEADLINE } from '../isa.ts';
import { LAPIC_TIMER_VECTOR } from '../kernel/vectors.ts';
import { idleLoop, kernelOf, type GuestKernel } from '../kernel/idle.ts';

/**
 * kvm-unit-tests x86/tscdeadline_latency.c: arm the TSC-deadline timer `delta`
 * cycles ahead, HLT until it fires; the handler records lateness = its entry
 * TSC minus the programmed deadline, and re-arms at now + delta.
 */
export interface TimerLatencyParams {
  /** The re-arm delta in guest TSC cycles (= ns at the model's 1 GHz TSC). */
  delta_ns: number;
  kernel?: GuestKernel;
}

/** Entry: arm the first deadline (kept in r1, exptime in the original) and enable interrupts. */
export function armTscDeadline(a: Assembler, delta_ns: number): Assembler {
  return a.label('entry').rdtsc(1).addi(1, 1, delta_ns).wrmsr(MSR_IA32_TSC_DEADLINE, 1).sti();
}

/** The timer handler: sample lateness, re-arm delta ahead, EOI, return; installed on the LAPIC timer vector. */
export function tscDeadlineIsr(a: Assembler, delta_ns: number): Assembler {
  return a
    .label('tsc_deadline_isr')
    .rdtsc(2)
    .sub(3, 2, 1)
    .sample('timer_lateness', 3)
    .addi(1, 2, delta_ns)
    .wrmsr(MSR_IA32_TSC_DEADLINE, 1)
    .eoi()
    .iret()
    .handler(LAPIC_TIMER_VECTOR, 'tsc_deadline_isr');
}

export function timerLatency({ delta_ns, kernel }: TimerLatencyParams): GuestProgram {
  const a = new Assembler();
  armTscDeadline(a, delta_ns);
  idleLoop(a, kernel?.idle, kernel?.arch);
  tscDeadlineIsr(a, delta_ns);
  return a.assemble('timer-latency', 'entry', kernelOf(kernel));
}
