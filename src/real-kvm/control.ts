import { LayoutBuilder, SharedMemory, struct } from '../actors/shared-memory.ts';
import { VMM, VM_I } from '../host/layout.ts';
import { FAULTS, FAULTS_REGION } from '../host/faults.ts';

/**
 * What the main thread and the real-KVM backend's threads share, declared as the model declares
 * its shared memory: the VMM's stop and pause words (the model's VMM record), and per thread (the
 * vCPUs', then the I/O thread's) its kernel thread id (a vCPU's kick goes to it; /proc gives its
 * CPU time by it), where its loop is, the time it has spent outside KVM_RUN and paused, and its
 * fault word (injected faults, as the model's actors have them). The guest's own state is in guest
 * RAM.
 */

export const KVM_THREAD = struct(['phase', 'tid'], ['vmm_ns', 'paused_ns']);
const T_I = KVM_THREAD.i32.index;
const T_F = KVM_THREAD.f64.index;
const THREADS = 'kvm_thread';

/** A vCPU thread's phase, for a message about a thread that does not stop. */
export const VCPU_PHASE = { starting: 0, in_kvm_run: 1, in_vmm: 2, paused: 3, stopped: 4 } as const;
export const VCPU_PHASE_NAMES = ['starting', 'in KVM_RUN', 'in the VMM', 'paused', 'stopped'] as const;

export const CTRL = VM_I;

export class RunControl {
  readonly vmm: Int32Array;

  constructor(readonly mem: SharedMemory) {
    this.vmm = mem.record('vmm', 0).i32;
  }

  /** `threads`: every thread of the run, vCPUs first (slot = vCPU id), then I/O threads. */
  static allocate(threads: number): RunControl {
    return new RunControl(SharedMemory.allocate(new LayoutBuilder().struct('vmm', VMM, 1).struct(THREADS, KVM_THREAD, threads).struct(FAULTS_REGION, FAULTS, threads).build()));
  }

  get stopping(): boolean {
    return Atomics.load(this.vmm, CTRL.stop) !== 0;
  }

  get paused(): boolean {
    return Atomics.load(this.vmm, CTRL.paused) !== 0;
  }

  /** The kernel thread id of the thread in `slot` (0 until it has published it). */
  thread(slot: number): number {
    return Atomics.load(this.mem.record(THREADS, slot).i32, T_I.tid);
  }

  publishThread(slot: number, tid: number): void {
    Atomics.store(this.mem.record(THREADS, slot).i32, T_I.tid, tid);
  }

  fault(slot: number) {
    return this.mem.record(FAULTS_REGION, slot);
  }

  phase(slot: number): number {
    return Atomics.load(this.mem.record(THREADS, slot).i32, T_I.phase);
  }

  /** Time the thread has spent outside KVM_RUN (the VMM's) and paused so far, ns. */
  times(slot: number): { vmm_ns: number; paused_ns: number } {
    const f64 = this.mem.record(THREADS, slot).f64;
    return { vmm_ns: f64[T_F.vmm_ns], paused_ns: f64[T_F.paused_ns] };
  }

  /** The thread's own record, for its loop: its phase, and its times as it publishes them. */
  own(slot: number) {
    const { i32, f64 } = this.mem.record(THREADS, slot);
    return {
      setPhase: (p: number) => void Atomics.store(i32, T_I.phase, p),
      publishTimes: (vmmNs: number, pausedNs: number) => {
        f64[T_F.vmm_ns] = vmmNs;
        f64[T_F.paused_ns] = pausedNs;
      },
    };
  }
}
