import { LayoutBuilder, SharedMemory, struct, type Layout } from '../actors/shared-memory.ts';
import { Scheduler } from './sched/scheduler.ts';
import { HOST, pcpuStruct, TASK } from './sched/task-state.ts';
import { VCPU_STATS_STRUCT } from './kvm/stats.ts';
import { VCPU_BLOCK } from './kvm/vcpu-state.ts';
import { KVM_VM } from './kvm/vm-state.ts';
import { GuestMemory, guestMemStruct, guestMemWords } from './guest-memory.ts';
import type { VcpuShared } from './kvm/kick.ts';
import { FAULTS, FAULTS_REGION } from './faults.ts';
import { THREAD, THREAD_REGION } from './thread-state.ts';
import { AIO, AIO_REGION } from './vmm/aio-context.ts';
import { WORK_QUEUE, WORK_QUEUE_REGION } from './vmm/work-queue.ts';
import { vcpuSlot } from './actor-slots.ts';
import { LIVE_BUCKETS } from '../actors/live-histogram.ts';

/** Per vCPU, its wake-latency samples as live histogram buckets (live-histogram.ts). */
export const WAKE_LIVE = struct([['buckets', LIVE_BUCKETS]], []);
export const WAKE_LIVE_REGION = 'wake_live';
import { addTraceRegion, NO_TRACE, TRACE_REGION, traceRing, Tracer } from '../trace/tracer.ts';

/**
 * The VMM's own shared words: `stop`, the event a VcpuHandle sends before it
 * signals the thread; `paused`, the VM is stopped (QEMU's `stop`): vCPU
 * threads wait in the VMM and devices raise nothing until it is 0 again.
 */
export const VMM = struct(['stop', 'paused'], []);
export const VM_I = VMM.i32.index;

export interface VmShape {
  vcpus: number;
  pcpus: number;
  /** Actors (host, vCPUs, I/O threads): one fault word and one THREAD record each. */
  actors: number;
  /** The VMM's I/O threads: one AioContext each. */
  iothreads?: number;
  /** Allocate a trace ring per actor. */
  trace?: boolean;
}

/** Every region of one VM's SharedArrayBuffer. Tasks are the schedulable threads: the vCPUs. */
export function vmLayout({ vcpus, pcpus, actors, iothreads = 0, trace = false }: VmShape): Layout {
  const b = new LayoutBuilder()
    .struct('vcpu', VCPU_BLOCK, vcpus)
    .struct('vcpu_stats', VCPU_STATS_STRUCT, vcpus)
    .struct('task', TASK, vcpus)
    .struct('pcpu', pcpuStruct(vcpus), pcpus)
    .struct('host', HOST, 1)
    .struct('kvm', KVM_VM, 1)
    .struct('vmm', VMM, 1)
    .struct(WAKE_LIVE_REGION, WAKE_LIVE, vcpus)
    .struct(AIO_REGION, AIO, Math.max(1, iothreads))
    .struct('guest_mem', guestMemStruct(vcpus), 1)
    .struct(WORK_QUEUE_REGION, WORK_QUEUE, 1)
    .struct(FAULTS_REGION, FAULTS, actors)
    .struct(THREAD_REGION, THREAD, actors);
  return (trace ? addTraceRegion(b, actors) : b).build();
}

/** The tracer of the thread writing trace ring `slot`; a no-op when the VM is not traced. */
export function tracerFor(mem: SharedMemory, slot: number | undefined): Tracer {
  if (slot === undefined || !(TRACE_REGION in mem.layout.regions)) return NO_TRACE;
  return new Tracer(traceRing(mem.bytes(TRACE_REGION), slot));
}

export function allocateVm(shape: VmShape): SharedMemory {
  const mem = SharedMemory.allocate(vmLayout(shape));
  Scheduler.init(mem);
  return mem;
}

export function vcpuShared(mem: SharedMemory, id: number): VcpuShared {
  return { id, v: mem.record('vcpu', id), s: mem.record('vcpu_stats', id), t: mem.record(THREAD_REGION, vcpuSlot(id)) };
}

/** The VM's guest memory as one thread sees it. */
export function guestMemory(mem: SharedMemory): GuestMemory {
  const vcpus = mem.records('vcpu');
  return new GuestMemory(mem.record('guest_mem', 0).i32, guestMemWords(vcpus.length), vcpus);
}
