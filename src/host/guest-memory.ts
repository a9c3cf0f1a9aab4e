import { struct, type Record32x64 } from '../actors/shared-memory.ts';
import { wakeIdleWaiter } from './kvm/kick.ts';
import { V } from './kvm/vcpu-state.ts';

/**
 * The VM's one guest memory, in its SharedArrayBuffer: 32-bit words addressed
 * by word index, grouped in 64-byte lines (16 words), the granularity at which
 * MONITOR watches memory. Two parts, which never overlap:
 *
 *  - words 0..GUEST_RAM_WORDS-1: ordinary RAM shared by every vCPU (4 lines),
 *    the data the guest's atomics (LOCK CMPXCHG, LOCK XADD) and plain loads
 *    and stores work on: the spinlock workload's lock word and counters;
 *  - then one line per vCPU (guestIdleLine): the per-CPU word the guest's
 *    MWAIT idle loop monitors (Linux monitors the idle task's thread flags).
 *
 * Every write (store, cmpxchg, xadd) wakes every vCPU whose armed monitor
 * covers the line, as a write snooped by the monitoring core's cache does:
 * the monitor is triggered (armed -> 0), and a vCPU waiting natively in MWAIT
 * is woken. A locked read-modify-write writes even when its compare fails.
 */

export const GUEST_LINE_WORDS = 16;
/** Words of shared guest RAM at the start of guest memory (absolute addresses in guest programs name these). */
export const GUEST_RAM_WORDS = 64;

/** First word of vCPU `cpu`'s idle line (what its MWAIT idle loop monitors). */
export const guestIdleLine = (cpu: number): number => GUEST_RAM_WORDS + GUEST_LINE_WORDS * cpu;
export const guestMemWords = (vcpus: number): number => GUEST_RAM_WORDS + GUEST_LINE_WORDS * Math.max(1, vcpus);
export const guestMemStruct = (vcpus: number) => struct([['word', guestMemWords(vcpus)]], []);

/** An absolute address in a guest program must name a word of shared RAM (per-CPU lines are reached by register). */
export function checkGuestAddress(addr: number, program: string): void {
  if (!Number.isInteger(addr) || addr < 0 || addr >= GUEST_RAM_WORDS) {
    throw new Error(`guest ${program}: address ${addr} is outside guest RAM (0..${GUEST_RAM_WORDS - 1})`);
  }
}

export class GuestMemory {
  constructor(
    private readonly words: Int32Array,
    private readonly size: number,
    /** Every vCPU's VCPU_BLOCK record: whose monitor a store may trigger. */
    private readonly vcpus: readonly Record32x64[],
  ) {}

  /** A guest store (the write is visible before any monitor sees it triggered). */
  store(addr: number, value: number): void {
    Atomics.store(this.words, this.check(addr), value);
    this.written(addr);
  }

  load(addr: number): number {
    return Atomics.load(this.words, this.check(addr));
  }

  /** LOCK CMPXCHG: the old value; `value` stored when it equalled `expected`. */
  cmpxchg(addr: number, expected: number, value: number): number {
    const old = Atomics.compareExchange(this.words, this.check(addr), expected | 0, value | 0);
    this.written(addr);
    return old;
  }

  /** LOCK XADD: the old value; `delta` added. */
  xadd(addr: number, delta: number): number {
    const old = Atomics.add(this.words, this.check(addr), delta | 0);
    this.written(addr);
    return old;
  }

  /** MONITOR run natively by the vCPU whose record is `v`: arm the line holding `addr`. */
  monitor(v: Record32x64, addr: number): void {
    Atomics.store(v.i32, V.monitor_line, Math.trunc(this.check(addr) / GUEST_LINE_WORDS));
    Atomics.store(v.i32, V.monitor_armed, 1);
  }

  private written(addr: number): void {
    const line = Math.trunc(addr / GUEST_LINE_WORDS);
    for (const v of this.vcpus) {
      if (Atomics.load(v.i32, V.monitor_line) !== line) continue;
      if (Atomics.compareExchange(v.i32, V.monitor_armed, 1, 0) === 1) wakeIdleWaiter(v);
    }
  }

  private check(addr: number): number {
    // The guest touching memory it does not have is a bug in the guest program, not a model state.
    if (!Number.isInteger(addr) || addr < 0 || addr >= this.size) throw new RangeError(`guest address ${addr} outside guest memory (${this.size} words)`);
    return addr;
  }
}
