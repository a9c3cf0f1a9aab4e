import type { ThreadRecord } from '../thread-state.ts';
import type { VcpuStatRecord } from './stats.ts';
import type { VcpuRecord } from './vcpu-state.ts';

/**
 * The shared part of one vCPU, as every thread reaches it: struct kvm_vcpu's
 * words other threads read and write (the VCPU record: mode, kick word,
 * pending interrupts, timer), its statistics (vcpu->stat), and its thread's
 * run state. The vCPU thread's own KvmVcpu holds the same three records.
 */
export interface VcpuRecords {
  readonly id: number;
  readonly block: VcpuRecord;
  readonly stats: VcpuStatRecord;
  readonly thread: ThreadRecord;
}
