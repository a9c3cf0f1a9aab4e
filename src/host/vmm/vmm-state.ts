import { region, struct, type RecordOf } from '../../actors/shared-memory.ts';

/**
 * The VMM's own shared words: `stop`, the event a VcpuHandle sends before it
 * signals the thread; `paused`, the VM is stopped (QEMU's `stop`): vCPU
 * threads wait in the VMM and devices raise nothing until it is 0 again.
 * Both are futex words: every thread that sleeps for the VMM sleeps on one of
 * them, so a stop or a resume wakes it.
 */
export const VMM = region('vmm', struct(['stop', 'paused'], []));
export type VmmRecord = RecordOf<typeof VMM>;

export const vmmStopping = (vmm: VmmRecord): boolean => vmm.load('stop') !== 0;
export const vmmPaused = (vmm: VmmRecord): boolean => vmm.load('paused') !== 0;
