import { struct, type Record32x64 } from '../actors/shared-memory.ts';
import { wakeIdleWaiter } from './kvm/kick.ts';
import { V } from './kvm/vcpu-state.ts';

/**
 * A small guest RAM in the VM's SharedArrayBuffer: 32-bit words addressed by
 * word index, grouped in 64-byte lines (16 words), the granularity at which
 * MONITOR watches memory. One line per vCPU: the per-CPU word the guest's
 * MWAIT idle loop monitors (Linux monitors the idle task's thread flags).
 *
 * A store wakes every vCPU whose armed monitor covers the line, as a write
 * snooped by the monitoring core's cache does: the monitor is triggered
 * (armed -> 0), and a vCPU waiting natively in MWAIT is woken.
 */

export const GUEST_LINE_WORDS = 16;

export const guestMemWords = (vcpus: number): number => GUEST_LINE_WORDS * Math.max(1, vcpus);
export const guestMemStruct = (vcpus: number) => struct([['word', guestMemWords(vcpus)]], []);

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
    const line = Math.trunc(addr / GUEST_LINE_WORDS);
    for (const v of this.vcpus) {
      if (Atomics.load(v.i32, V.monitor_line) !== line) continue;
      if (Atomics.compareExchange(v.i32, V.monitor_armed, 1, 0) === 1) wakeIdleWaiter(v);
    }
  }

  load(addr: number): number {
    return Atomics.load(this.words, this.check(addr));
  }

  /** MONITOR run natively by the vCPU whose record is `v`: arm the line holding `addr`. */
  monitor(v: Record32x64, addr: number): void {
    Atomics.store(v.i32, V.monitor_line, Math.trunc(this.check(addr) / GUEST_LINE_WORDS));
    Atomics.store(v.i32, V.monitor_armed, 1);
  }

  private check(addr: number): number {
    // The guest touching memory it does not have is a bug in the guest program, not a model state.
    if (!Number.isInteger(addr) || addr < 0 || addr >= this.size) throw new RangeError(`guest address ${addr} outside guest memory (${this.size} words)`);
    return addr;
  }
}
