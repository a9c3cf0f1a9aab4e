import { Assembler } from '../assembler.ts';
import type { GuestProgram } from '../isa.ts';

/**
 * A contended guest spinlock: every vCPU takes one lock word in shared guest RAM
 * with LOCK CMPXCHG, holds it for hold_ns of work, releases it with a store,
 * works think_ns outside, and goes again. Waiters spin test-and-test-and-set
 * with PAUSE (cpu_relax()), as Linux's spinlock slow paths do. With more vCPUs
 * than pCPUs the host preempts lock holders, and waiters spin on a lock whose
 * holder cannot run: the lock-holder preemption problem PAUSE-loop exiting and
 * directed yield exist for.
 *
 * The guest checks mutual exclusion itself: a count of vCPUs inside the
 * critical section (must be 0 when one enters) and the lock word (must still
 * hold its own tag when it leaves); either failure is counted in guest RAM.
 * Each acquisition samples its spin time (first attempt to success).
 */

/** Word addresses in shared guest RAM (guest/memory.ts: below GUEST_RAM_WORDS, apart from the MWAIT idle lines). */
export const SPINLOCK_RAM = {
  LOCK: 0, // 0 free, else the holder's CPU number + 1
  INSIDE: 1, // vCPUs inside the critical section
  ACQUIRED: 2,
  RELEASED: 3,
  VIOLATIONS: 4,
} as const;

export interface SpinlockParams {
  /** Work inside the critical section, ns. */
  hold_ns: number;
  /** Work outside it between two acquisitions, ns. */
  think_ns: number;
}

export function spinlock({ hold_ns, think_ns }: SpinlockParams): GuestProgram {
  const M = SPINLOCK_RAM;
  const a = new Assembler();
  // r0 cpu, r1 attempt start, r2 0, r3/r4 scratch, r5 -1, r6 own tag, r7 1.
  a.label('entry').rdpid(0).addi(6, 0, 1).movi(7, 1).movi(5, -1).movi(2, 0);
  a.label('lock').rdtsc(1);
  a.label('try').cmpxchg(3, M.LOCK, 2, 6).jnz(3, 'spin');
  a.rdtsc(3).sub(3, 3, 1).sample('spin_time', 3);
  a.xadd(4, M.ACQUIRED, 7);
  a.xadd(4, M.INSIDE, 7).jnz(4, 'shared');
  a.label('critical').compute(hold_ns);
  a.ldAt(3, M.LOCK).sub(3, 3, 6).jnz(3, 'stolen');
  a.label('unlock').xadd(4, M.INSIDE, 5).stAt(M.LOCK, 2).xadd(4, M.RELEASED, 7);
  a.compute(think_ns).jmp('lock');
  // arch_spin_lock's wait: read until free, then try again.
  a.label('spin').pause().ldAt(3, M.LOCK).jnz(3, 'spin').jmp('try');
  a.label('shared').xadd(4, M.VIOLATIONS, 7).jmp('critical');
  a.label('stolen').xadd(4, M.VIOLATIONS, 7).jmp('unlock');
  return a.assemble('spinlock');
}
