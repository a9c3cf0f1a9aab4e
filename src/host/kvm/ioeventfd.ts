import type { KvmRecord } from './vm-state.ts';

/**
 * KVM_IOEVENTFD (virt/kvm/eventfd.c) for port I/O: the VMM registers an I/O
 * port, and a guest write to it signals an eventfd in the kernel and resumes
 * the guest, never exiting to userspace. QEMU registers one per virtqueue on
 * the queue-notify register with datamatch = the queue's index; here one
 * registration stands for those: the value written picks eventfd[value] of
 * the registered set (an I/O thread's AioContext, which is the VMM's: KVM
 * only signals it, through what the VMM handed over).
 */

/**
 * kvm_io_bus_write() for port I/O: true when an in-kernel device took the
 * write (an ioeventfd), so the guest goes on without an exit to userspace.
 */
export type KvmIoBus = (port: number, value: number) => boolean;

/** eventfd_signal() on eventfd `n` of the set registered as `set`: the VMM's eventfds, as KVM holds them. */
export type EventfdSignal = (set: number, n: number) => void;

export function kvmIoeventfd(kvm: KvmRecord, port: number, set: number, queues: number): void {
  kvm.i32[kvm.I.ioeventfd_aio] = set;
  kvm.i32[kvm.I.ioeventfd_queues] = queues;
  kvm.store('ioeventfd_port', port); // last: a vCPU that sees the port sees the rest
}

/** The VM's in-kernel I/O bus, for a vCPU thread. */
export function kvmIoBus(kvm: KvmRecord, signal: EventfdSignal): KvmIoBus {
  return (port, value) => {
    if (port === 0 || kvm.load('ioeventfd_port') !== port) return false;
    if (!Number.isInteger(value) || value < 0 || value >= kvm.i32[kvm.I.ioeventfd_queues]) return false; // no datamatch
    signal(kvm.i32[kvm.I.ioeventfd_aio], value);
    return true;
  };
}
