import { Assembler } from '../assembler.ts';
import type { GuestProgram } from '../isa.ts';
import { DEVICE_VECTOR } from '../kernel/vectors.ts';
import { idleLoop, kernelOf, type GuestKernel } from '../kernel/idle.ts';
import { armTscDeadline, tscDeadlineIsr } from './timer-latency.ts';

/**
 * timer-latency and irq-wake in one idle guest: its own TSC-deadline timer
 * re-armed every delta, and a device interrupt from time to time. The stress
 * test's guest: every vCPU has two independent sources of wakeups, one fired
 * by the vCPU or the host, one raised by an I/O thread.
 */
export function mixed({ delta_ns, kernel }: { delta_ns: number; kernel?: GuestKernel }): GuestProgram {
  const a = new Assembler();
  armTscDeadline(a, delta_ns);
  idleLoop(a, kernel?.idle, kernel?.arch);
  tscDeadlineIsr(a, delta_ns);
  a.label('device_isr').eoi().iret().handler(DEVICE_VECTOR, 'device_isr');
  return a.assemble('mixed', 'entry', kernelOf(kernel));
}
