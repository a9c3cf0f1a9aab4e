import type { Assembler } from '../assembler.ts';

/** The guest's idle loop with default_idle: HLT with interrupts enabled, forever (labels `idle`). */
export function idleLoop(a: Assembler): Assembler {
  return a.label('idle').hlt().jmp('idle');
}
