import { LayoutBuilder, region, SharedMemory, struct, type RecordOf } from '../actors/shared-memory.ts';
import { FAULTS, type FaultRecord } from '../host/faults.ts';
import { VMM, type VmmRecord } from '../host/vmm/vmm-state.ts';

/**
 * What the main thread and the real-KVM backend's threads share, declared as the model declares
 * its shared memory: the VMM's stop and pause words (the model's VMM record), and per thread (the
 * vCPUs', then the I/O thread's) its kernel thread id (a vCPU's kick goes to it; /proc gives its
 * CPU time by it), where its loop is, the time it has spent outside KVM_RUN and paused, and its
 * fault word (injected faults, as the model's actors have them). The guest's own state is in guest
 * RAM.
 */

/** One record per thread of the run. */
export const KVM_THREAD = region('kvm_thread', struct(['phase', 'tid'], ['vmm_ns', 'paused_ns']));
export type KvmThreadRecord = RecordOf<typeof KVM_THREAD>;

/** A vCPU thread's phase, for a message about a thread that does not stop. */
export const VCPU_PHASE = { starting: 0, in_kvm_run: 1, in_vmm: 2, paused: 3, stopped: 4 } as const;
export const VCPU_PHASE_NAMES = ['starting', 'in KVM_RUN', 'in the VMM', 'paused', 'stopped'] as const;

export class RunControl {
  readonly vmm: VmmRecord;

  constructor(readonly mem: SharedMemory) {
    this.vmm = mem.record(VMM, 0);
  }

  /** `threads`: every thread of the run, vCPUs first (slot = vCPU id), then I/O threads. */
  static allocate(threads: number): RunControl {
    return new RunControl(SharedMemory.allocate(new LayoutBuilder().struct(VMM, 1).struct(KVM_THREAD, threads).struct(FAULTS, threads).build()));
  }

  get stopping(): boolean {
    return this.vmm.load('stop') !== 0;
  }

  get paused(): boolean {
    return this.vmm.load('paused') !== 0;
  }

  /** The kernel thread id of the thread in `slot` (0 until it has published it). */
  thread(slot: number): number {
    return this.mem.record(KVM_THREAD, slot).load('tid');
  }

  publishThread(slot: number, tid: number): void {
    this.mem.record(KVM_THREAD, slot).store('tid', tid);
  }

  fault(slot: number): FaultRecord {
    return this.mem.record(FAULTS, slot);
  }

  phase(slot: number): number {
    return this.mem.record(KVM_THREAD, slot).load('phase');
  }

  /** Time the thread has spent outside KVM_RUN (the VMM's) and paused so far, ns. */
  times(slot: number): { vmm_ns: number; paused_ns: number } {
    const rec = this.mem.record(KVM_THREAD, slot);
    return { vmm_ns: rec.get('vmm_ns'), paused_ns: rec.get('paused_ns') };
  }

  /** The thread's own record, for its loop: its phase, and its times as it publishes them. */
  own(slot: number): KvmThreadRecord {
    return this.mem.record(KVM_THREAD, slot);
  }
}
