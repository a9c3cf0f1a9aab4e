/**
 * The guest's memory map, as its programs see it: 32-bit words addressed by
 * word index, grouped in 64-byte lines (16 words), the granularity at which
 * MONITOR watches memory. Two parts, which never overlap:
 *
 *  - words 0..GUEST_RAM_WORDS-1: ordinary RAM shared by every vCPU (4 lines),
 *    the data the guest's atomics (LOCK CMPXCHG, LOCK XADD) and plain loads
 *    and stores work on: the spinlock workload's lock word and counters;
 *  - then one line per vCPU (guestIdleLine): the per-CPU word the guest's
 *    MWAIT idle loop monitors (Linux monitors the idle task's thread flags).
 *
 * The host keeps the words (host/guest-memory.ts); this is only their map.
 */

export const GUEST_LINE_WORDS = 16;
/** Words of shared guest RAM at the start of guest memory (absolute addresses in guest programs name these). */
export const GUEST_RAM_WORDS = 64;

/** First word of vCPU `cpu`'s idle line (what its MWAIT idle loop monitors). */
export const guestIdleLine = (cpu: number): number => GUEST_RAM_WORDS + GUEST_LINE_WORDS * cpu;
/** Words of guest memory in a VM of `vcpus` vCPUs. */
export const guestMemWords = (vcpus: number): number => GUEST_RAM_WORDS + GUEST_LINE_WORDS * Math.max(1, vcpus);

/** An absolute address in a guest program must name a word of shared RAM (per-CPU lines are reached by register). */
export function checkGuestAddress(addr: number, program: string): void {
  if (!Number.isInteger(addr) || addr < 0 || addr >= GUEST_RAM_WORDS) {
    throw new Error(`guest ${program}: address ${addr} is outside guest RAM (0..${GUEST_RAM_WORDS - 1})`);
  }
}
