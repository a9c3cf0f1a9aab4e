import { LayoutBuilder, SharedMemory, struct, type Layout } from '../actors/shared-memory.ts';
import { Scheduler } from './sched/scheduler.ts';
import { HOST, pcpuStruct, TASK } from './sched/task-state.ts';
import { VCPU_STATS_STRUCT } from './kvm/stats.ts';
import { VCPU_BLOCK } from './kvm/vcpu-state.ts';
import { KVM_VM } from './kvm/vm-state.ts';
import { GuestMemory, guestMemStruct, guestMemWords } from './guest-memory.ts';
import type { VcpuShared } from './kvm/kick.ts';
import { FAULTS, FAULTS_REGION } from './faults.ts';
import { addTraceRegion, NO_TRACE, TRACE_REGION, traceRing, Tracer } from '../trace/tracer.ts';

/** The VMM's own shared words: the event a VcpuHandle sends before it signals the thread. */
export const VMM = struct(['stop'], []);
export const VM_I = VMM.i32.index;

export interface VmShape {
  vcpus: number;
  pcpus: number;
  /** Actors (host, vCPUs, I/O threads): one fault word each. */
  actors: number;
  /** Allocate a trace ring per actor. */
  trace?: boolean;
}

/** Every region of one VM's SharedArrayBuffer. Tasks are the schedulable threads: the vCPUs. */
export function vmLayout({ vcpus, pcpus, actors, trace = false }: VmShape): Layout {
  const b = new LayoutBuilder()
    .struct('vcpu', VCPU_BLOCK, vcpus)
    .struct('vcpu_stats', VCPU_STATS_STRUCT, vcpus)
    .struct('task', TASK, vcpus)
    .struct('pcpu', pcpuStruct(vcpus), pcpus)
    .struct('host', HOST, 1)
    .struct('kvm', KVM_VM, 1)
    .struct('vmm', VMM, 1)
    .struct('guest_mem', guestMemStruct(vcpus), 1)
    .struct(FAULTS_REGION, FAULTS, actors);
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
  return { id, v: mem.record('vcpu', id), s: mem.record('vcpu_stats', id) };
}

/** The VM's guest memory as one thread sees it. */
export function guestMemory(mem: SharedMemory): GuestMemory {
  const vcpus = mem.records('vcpu');
  return new GuestMemory(mem.record('guest_mem', 0).i32, guestMemWords(vcpus.length), vcpus);
}
