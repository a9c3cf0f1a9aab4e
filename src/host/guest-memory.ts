import { region, struct } from '../actors/shared-memory.ts';
import { GUEST_LINE_WORDS, guestMemWords } from '../guest/memory.ts';
import { wakeIdleWaiter } from './kvm/kick.ts';
import type { VcpuRecord } from './kvm/vcpu-state.ts';

/**
 * The VM's one guest memory (its map: guest/memory.ts), in the VM's
 * SharedArrayBuffer. Every write (store, cmpxchg, xadd) wakes every vCPU
 * whose armed monitor covers the line, as a write snooped by the monitoring
 * core's cache does: the monitor is triggered (armed -> 0), and a vCPU
 * waiting natively in MWAIT is woken. A locked read-modify-write writes even
 * when its compare fails.
 */

export const guestMemStruct = (vcpus: number) => struct([['word', guestMemWords(vcpus)]], []);
/** One record: the words (its size follows the vCPUs, guestMemStruct(vcpus) when laid out). */
export const GUEST_MEM = region('guest_mem', guestMemStruct(1), false);

export class GuestMemory {
  constructor(
    private readonly words: Int32Array,
    private readonly size: number,
    /** Every vCPU's VCPU record: whose monitor a store may trigger. */
    private readonly vcpus: readonly VcpuRecord[],
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
  monitor(v: VcpuRecord, addr: number): void {
    v.store('monitor_line', Math.trunc(this.check(addr) / GUEST_LINE_WORDS));
    v.store('monitor_armed', 1);
  }

  private written(addr: number): void {
    const line = Math.trunc(addr / GUEST_LINE_WORDS);
    for (const v of this.vcpus) {
      if (Atomics.load(v.i32, v.I.monitor_line) !== line) continue;
      if (Atomics.compareExchange(v.i32, v.I.monitor_armed, 1, 0) === 1) wakeIdleWaiter(v);
    }
  }

  private check(addr: number): number {
    // The guest touching memory it does not have is a bug in the guest program, not a model state.
    if (!Number.isInteger(addr) || addr < 0 || addr >= this.size) throw new RangeError(`guest address ${addr} outside guest memory (${this.size} words)`);
    return addr;
  }
}
