import { Assembler } from '../assembler.ts';
import type { GuestProgram } from '../isa.ts';
import { MSR_IA32_TSC_DEADLINE } from '../isa.ts';
import { DEVICE_VECTOR, LAPIC_TIMER_VECTOR } from '../kernel/vectors.ts';

/**
 * The guest of the simulation loop: idle in WFI (HLT here) but for work_ns
 * of computation on each timer tick. Under the simulator the tick comes from
 * its own virtual-time timer device (`periodic: false`: the guest arms
 * nothing, the device's interrupt arrives on DEVICE_VECTOR); on plain KVM
 * (`periodic: true`) the guest programs its LAPIC timer one period ahead
 * each time, in real time.
 */
export function simLoopGuest({ work_ns, tick_ns, periodic }: { work_ns: number; tick_ns: number; periodic: boolean }): GuestProgram {
  const a = new Assembler();
  a.label('entry');
  if (periodic) a.rdtsc(1).addi(1, 1, tick_ns).wrmsr(MSR_IA32_TSC_DEADLINE, 1);
  a.sti();
  a.label('idle').hlt().jmp('idle');
  a.label('tick');
  // On KVM the guest's timer is its LAPIC's: sample its lateness as timer-latency does (r1: the deadline).
  if (periodic) a.rdtsc(2).sub(3, 2, 1).sample('timer_lateness', 3);
  a.compute(work_ns);
  if (periodic) a.addi(1, 1, tick_ns).wrmsr(MSR_IA32_TSC_DEADLINE, 1);
  a.eoi().iret().handler(periodic ? LAPIC_TIMER_VECTOR : DEVICE_VECTOR, 'tick');
  return a.assemble('sim-loop', 'entry');
}
