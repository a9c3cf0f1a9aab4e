import type { SharedMemory } from '../../actors/shared-memory.ts';
import { AIO_REGION, eventfdSignal } from '../vmm/aio-context.ts';
import type { KvmIoBus } from './vcpu.ts';
import { KVM_VM, type KvmVmRecord } from './vm-state.ts';

/**
 * KVM_IOEVENTFD (virt/kvm/eventfd.c) for port I/O: the VMM registers an I/O
 * port, and a guest write to it signals an eventfd in the kernel and resumes
 * the guest, never exiting to userspace. QEMU registers one per virtqueue on
 * the queue-notify register with datamatch = the queue's index; here one
 * registration stands for those: the value written picks eventfd[value] of
 * the I/O thread's context.
 */

const I = KVM_VM.i32.index;

export function kvmIoeventfd(kvm: KvmVmRecord, port: number, aioSlot: number, queues: number): void {
  kvm.i32[I.ioeventfd_aio] = aioSlot;
  kvm.i32[I.ioeventfd_queues] = queues;
  Atomics.store(kvm.i32, I.ioeventfd_port, port); // last: a vCPU that sees the port sees the rest
}

/** The VM's in-kernel I/O bus, for a vCPU thread. */
export function kvmIoBus(mem: SharedMemory, kvm: KvmVmRecord): KvmIoBus {
  return (port, value) => {
    if (port === 0 || Atomics.load(kvm.i32, I.ioeventfd_port) !== port) return false;
    if (!Number.isInteger(value) || value < 0 || value >= kvm.i32[I.ioeventfd_queues]) return false; // no datamatch
    eventfdSignal(mem.record(AIO_REGION, kvm.i32[I.ioeventfd_aio]), value);
    return true;
  };
}
