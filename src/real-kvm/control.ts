import { LayoutBuilder, SharedMemory, struct } from '../actors/shared-memory.ts';
import { VMM, VM_I } from '../host/layout.ts';
import { FAULTS, FAULTS_REGION } from '../host/faults.ts';

/**
 * What the main thread and the real-KVM backend's threads share, declared as the model declares
 * its shared memory: the VMM's stop and pause words (the model's VMM record), and per vCPU thread
 * its kernel thread id (the target of its kick) and where its loop is; a fault word per thread
 * (injected faults, as the model's actors have them). The guest's own state is in guest RAM.
 */

export const VCPU_THREAD = struct(['phase', 'tid'], []);
const T_I = VCPU_THREAD.i32.index;

/** A vCPU thread's phase, for a message about a thread that does not stop. */
export const VCPU_PHASE = { starting: 0, in_kvm_run: 1, in_vmm: 2, paused: 3, stopped: 4 } as const;
export const VCPU_PHASE_NAMES = ['starting', 'in KVM_RUN', 'in the VMM', 'paused', 'stopped'] as const;

export const CTRL = VM_I;

export class RunControl {
  readonly vmm: Int32Array;

  constructor(readonly mem: SharedMemory) {
    this.vmm = mem.record('vmm', 0).i32;
  }

  /** `threads`: every thread of the run (vCPUs first, then I/O threads), one fault word each. */
  static allocate(vcpus: number, threads: number): RunControl {
    return new RunControl(SharedMemory.allocate(new LayoutBuilder().struct('vmm', VMM, 1).struct('vcpu_thread', VCPU_THREAD, vcpus).struct(FAULTS_REGION, FAULTS, threads).build()));
  }

  get stopping(): boolean {
    return Atomics.load(this.vmm, CTRL.stop) !== 0;
  }

  get paused(): boolean {
    return Atomics.load(this.vmm, CTRL.paused) !== 0;
  }

  /** The kernel thread id of vCPU n's thread (0 until it has published it). */
  thread(n: number): number {
    return Atomics.load(this.mem.record('vcpu_thread', n).i32, T_I.tid);
  }

  publishThread(n: number, tid: number): void {
    Atomics.store(this.mem.record('vcpu_thread', n).i32, T_I.tid, tid);
  }

  fault(slot: number) {
    return this.mem.record(FAULTS_REGION, slot);
  }

  phase(n: number): number {
    return Atomics.load(this.mem.record('vcpu_thread', n).i32, T_I.phase);
  }

  /** vCPU n's phase word, for its own thread to set on every KVM_RUN (VCPU_PHASE). */
  phaseWord(n: number): (p: number) => void {
    const i32 = this.mem.record('vcpu_thread', n).i32;
    return (p) => void Atomics.store(i32, T_I.phase, p);
  }
}
