import { Assembler } from '../assembler.ts';
import type { GuestProgram } from '../isa.ts';
import { LAPIC_TIMER_VECTOR } from '../kernel/vectors.ts';
import { kernelOf, type GuestKernel } from '../kernel/idle.ts';
import { clockeventOf, setupLapicTimer } from '../kernel/clockevent.ts';

/**
 * The lazy tscdeadline RFC's case (seeds/004): a guest hrtimer pushed later
 * on every event of a fast loop (a timeout re-armed per packet, the nohz tick
 * re-programmed on each idle exit), so the TSC deadline is rewritten many
 * times before it fires. Each cycle: `rearms` events, each `event_ns` of work
 * then the timer re-programmed `timeout_ns` ahead through the guest kernel's
 * clockevent (one MSR write each, unless the lazy PV clockevent skips it);
 * then the guest stops pushing and idles until the timer really fires. The
 * last re-program is made with interrupts off and followed by `sti; hlt`, as
 * Linux's idle entry re-programs the tick with IRQs disabled and then does
 * safe_halt: a timer that fires in between ends the HLT instead of being
 * taken before it (which would leave the guest halted with nothing armed).
 *
 * The handler checks its own interrupt: lateness = entry TSC - the deadline
 * last programmed (r1), and r1 = +inf from then until the loop programs one
 * again. An early interrupt gives a negative sample, a spurious one (nothing
 * programmed) -inf: both are counted in timer_early_count. A lost one leaves
 * the guest idle for good (nothing else wakes it), which the tests see.
 */
export interface HrtimerRearmParams {
  event_ns: number;
  timeout_ns: number;
  rearms: number;
  kernel?: GuestKernel;
}

export function hrtimerRearm({ event_ns, timeout_ns, rearms, kernel }: HrtimerRearmParams): GuestProgram {
  const clockevent = clockeventOf(kernel);
  const a = new Assembler();
  if (kernel && kernel.idle !== 'halt') throw new Error(`hrtimer-rearm idles with HLT; guest idle ${kernel.idle} is not modelled for it`);
  a.label('entry');
  setupLapicTimer(a, clockevent);
  a.movi(1, Infinity).sti();
  a.label('loop');
  for (let k = 0; k < rearms; k++) {
    a.compute(event_ns);
    if (k === rearms - 1) a.cli(); // the way into idle: IRQs off from the last re-program to the halt
    a.rdtsc(2).addi(1, 2, timeout_ns).setNextEvent(1);
  }
  a.sti().hlt().jmp('loop');
  a.label('hrtimer_isr')
    .rdtsc(2)
    .sub(3, 2, 1)
    .sample('timer_lateness', 3)
    .movi(1, Infinity)
    .eoi()
    .iret()
    .handler(LAPIC_TIMER_VECTOR, 'hrtimer_isr');
  return a.assemble('hrtimer-rearm', 'entry', { ...kernelOf(kernel), clockevent });
}
