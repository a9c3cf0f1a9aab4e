import { struct } from '../actors/shared-memory.ts';

/**
 * Guest RAM shared by every vCPU of the VM: a small array of 32-bit words in
 * the VM's SharedArrayBuffer, addressed by word index. The ISA's atomic ops
 * (cmpxchg, xadd) and plain loads and stores (ld, st) work on it: enough for a
 * guest spinlock and its counters. Kept apart from any device or MONITOR/MWAIT
 * memory: this is ordinary cacheable RAM.
 */

/** Words of guest RAM the VM allocates. */
export const GUEST_RAM_WORDS = 64;
export const GUEST_RAM_REGION = 'guest_ram';
/** Its place in the VM's shared memory: one record of GUEST_RAM_WORDS Int32 words. */
export const GUEST_RAM = struct([['words', GUEST_RAM_WORDS]], []);

export function checkGuestAddress(addr: number, program: string): void {
  if (!Number.isInteger(addr) || addr < 0 || addr >= GUEST_RAM_WORDS) {
    throw new Error(`guest ${program}: address ${addr} is outside guest RAM (0..${GUEST_RAM_WORDS - 1})`);
  }
}
