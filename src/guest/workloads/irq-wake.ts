import { Assembler } from '../assembler.ts';
import type { GuestProgram } from '../isa.ts';
import { DEVICE_VECTOR } from '../kernel/vectors.ts';
import { idleLoop, kernelOf, type GuestKernel } from '../kernel/idle.ts';

/**
 * An idle guest woken by a device: HLT in the idle loop, and a handler for the
 * device's interrupt that acknowledges it and returns. Every wakeup is one
 * wake-latency sample: device raises the line -> the guest's handler runs.
 */
export function irqWake({ kernel }: { kernel?: GuestKernel } = {}): GuestProgram {
  const a = new Assembler();
  a.label('entry').sti();
  idleLoop(a, kernel?.idle, kernel?.arch);
  a.label('device_isr').eoi().iret();
  a.handler(DEVICE_VECTOR, 'device_isr');
  return a.assemble('irq-wake', 'entry', kernelOf(kernel));
}
