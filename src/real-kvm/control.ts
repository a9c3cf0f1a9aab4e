import { LayoutBuilder, SharedMemory, struct } from '../actors/shared-memory.ts';
import { VMM, VM_I } from '../host/layout.ts';

/**
 * What the main thread and the real-KVM backend's threads share, declared as the model declares
 * its shared memory: the VMM's stop and pause words (the model's VMM record), and per vCPU thread
 * its pthread_t (the target of its kick) and where its loop is. The guest's own state is in guest
 * RAM, not here.
 */

export const VCPU_THREAD = struct(['phase'], ['pthread']);
const T_I = VCPU_THREAD.i32.index;
const T_F = VCPU_THREAD.f64.index;

/** A vCPU thread's phase, for a message about a thread that does not stop. */
export const VCPU_PHASE = { starting: 0, in_kvm_run: 1, in_vmm: 2, paused: 3, stopped: 4 } as const;
export const VCPU_PHASE_NAMES = ['starting', 'in KVM_RUN', 'in the VMM', 'paused', 'stopped'] as const;

export const CTRL = VM_I;

export class RunControl {
  readonly vmm: Int32Array;

  constructor(readonly mem: SharedMemory) {
    this.vmm = mem.record('vmm', 0).i32;
  }

  static allocate(vcpus: number): RunControl {
    return new RunControl(SharedMemory.allocate(new LayoutBuilder().struct('vmm', VMM, 1).struct('vcpu_thread', VCPU_THREAD, vcpus).build()));
  }

  get stopping(): boolean {
    return Atomics.load(this.vmm, CTRL.stop) !== 0;
  }

  get paused(): boolean {
    return Atomics.load(this.vmm, CTRL.paused) !== 0;
  }

  /** pthread_t of vCPU n's thread (0 until it has published it). */
  thread(n: number): number {
    return this.mem.record('vcpu_thread', n).f64[T_F.pthread];
  }

  publishThread(n: number, pthread: number): void {
    this.mem.record('vcpu_thread', n).f64[T_F.pthread] = pthread;
  }

  phase(n: number): number {
    return Atomics.load(this.mem.record('vcpu_thread', n).i32, T_I.phase);
  }

  setPhase(n: number, p: number): void {
    Atomics.store(this.mem.record('vcpu_thread', n).i32, T_I.phase, p);
  }
}
