import { Assembler } from '../assembler.ts';
import type { GuestProgram } from '../isa.ts';
import { MSR_IA32_TSC_DEADLINE } from '../isa.ts';
import { DEVICE_VECTOR, LAPIC_TIMER_VECTOR } from '../kernel/vectors.ts';
import { idleLoop } from '../kernel/idle.ts';

/**
 * timer-latency and irq-wake in one idle guest: its own TSC-deadline timer
 * re-armed every delta, and a device interrupt from time to time. The stress
 * test's guest: every vCPU has two independent sources of wakeups, one fired
 * by the vCPU or the host, one raised by an I/O thread.
 */
export function mixed({ delta_ns }: { delta_ns: number }): GuestProgram {
  const a = new Assembler();
  a.label('entry').rdtsc(1).addi(1, 1, delta_ns).wrmsr(MSR_IA32_TSC_DEADLINE, 1).sti();
  idleLoop(a);
  a.label('tsc_deadline_isr')
    .rdtsc(2)
    .sub(3, 2, 1)
    .sample('timer_lateness', 3)
    .addi(1, 2, delta_ns)
    .wrmsr(MSR_IA32_TSC_DEADLINE, 1)
    .eoi()
    .iret();
  a.label('device_isr').eoi().iret();
  a.handler(LAPIC_TIMER_VECTOR, 'tsc_deadline_isr');
  a.handler(DEVICE_VECTOR, 'device_isr');
  return a.assemble('mixed');
}
