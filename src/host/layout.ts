import { LayoutBuilder, region, SharedMemory, struct, type Layout, type RecordOf } from '../actors/shared-memory.ts';
import { LIVE_BUCKETS } from '../actors/live-histogram.ts';
import { addTraceRegion, NO_TRACE, TRACE, traceRing, Tracer } from '../trace/tracer.ts';
import { guestMemWords } from '../guest/memory.ts';
import { Scheduler } from './sched/scheduler.ts';
import { HOST, PCPU, pcpuStruct, TASK } from './sched/task-state.ts';
import { VCPU_STAT } from './kvm/stats.ts';
import { VCPU } from './kvm/vcpu-state.ts';
import { KVM } from './kvm/vm-state.ts';
import type { VcpuRecords } from './kvm/vcpu-records.ts';
import { GUEST_MEM, GuestMemory, guestMemStruct } from './guest-memory.ts';
import { FAULTS } from './faults.ts';
import { THREAD } from './thread-state.ts';
import { AIO } from './vmm/aio-context.ts';
import { VMM } from './vmm/vmm-state.ts';
import { WORK_QUEUE } from './vmm/work-queue.ts';
import { vcpuSlot } from './actor-slots.ts';

/** Per vCPU, its wake-latency samples as live histogram buckets (live-histogram.ts). */
export const WAKE_LIVE = region('wake_live', struct([['buckets', LIVE_BUCKETS]], []));
export type WakeLiveRecord = RecordOf<typeof WAKE_LIVE>;

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
    .struct(VCPU, vcpus)
    .struct(VCPU_STAT, vcpus)
    .struct(TASK, vcpus)
    .struct(PCPU, pcpus, pcpuStruct(vcpus))
    .struct(HOST, 1)
    .struct(KVM, 1)
    .struct(VMM, 1)
    .struct(WAKE_LIVE, vcpus)
    .struct(AIO, Math.max(1, iothreads))
    .struct(GUEST_MEM, 1, guestMemStruct(vcpus))
    .struct(WORK_QUEUE, 1)
    .struct(FAULTS, actors)
    .struct(THREAD, actors);
  return (trace ? addTraceRegion(b, actors) : b).build();
}

/** The tracer of the thread writing trace ring `slot`; a no-op when the VM is not traced. */
export function tracerFor(mem: SharedMemory, slot: number | undefined): Tracer {
  if (slot === undefined || !mem.has(TRACE)) return NO_TRACE;
  return new Tracer(traceRing(mem.bytes(TRACE), slot));
}

export function allocateVm(shape: VmShape): SharedMemory {
  const mem = SharedMemory.allocate(vmLayout(shape));
  Scheduler.init(mem);
  return mem;
}

/** vCPU `id`'s shared records, as any thread of the VM reaches them. */
export function vcpuRecords(mem: SharedMemory, id: number): VcpuRecords {
  return { id, block: mem.record(VCPU, id), stats: mem.record(VCPU_STAT, id), thread: mem.record(THREAD, vcpuSlot(id)) };
}

/** The VM's guest memory as one thread sees it. */
export function guestMemory(mem: SharedMemory): GuestMemory {
  const vcpus = mem.records(VCPU);
  return new GuestMemory(mem.record(GUEST_MEM, 0).i32, guestMemWords(vcpus.length), vcpus);
}
