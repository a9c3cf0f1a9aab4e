import { Assembler } from '../assembler.ts';
import type { GuestProgram } from '../isa.ts';
import { MSR_IA32_TSC_DEADLINE } from '../isa.ts';
import { LAPIC_TIMER_VECTOR } from '../kernel/vectors.ts';
import { idleLoop } from '../kernel/idle.ts';

/**
 * kvm-unit-tests x86/tscdeadline_latency.c: arm the TSC-deadline timer `delta`
 * cycles ahead, HLT until it fires; the handler records lateness = its entry
 * TSC minus the programmed deadline, and re-arms at now + delta.
 */
export interface TimerLatencyParams {
  /** The re-arm delta in guest TSC cycles (= ns at the model's 1 GHz TSC). */
  delta_ns: number;
}

export function timerLatency({ delta_ns }: TimerLatencyParams): GuestProgram {
  const a = new Assembler();
  a.label('entry').rdtsc(1).addi(1, 1, delta_ns).wrmsr(MSR_IA32_TSC_DEADLINE, 1).sti();
  idleLoop(a);
  // r1 holds the programmed deadline (exptime in the original)
  a.label('tsc_deadline_isr')
    .rdtsc(2)
    .sub(3, 2, 1)
    .sample('timer_lateness', 3)
    .addi(1, 2, delta_ns)
    .wrmsr(MSR_IA32_TSC_DEADLINE, 1)
    .eoi()
    .iret();
  a.handler(LAPIC_TIMER_VECTOR, 'tsc_deadline_isr');
  return a.assemble('timer-latency');
}
