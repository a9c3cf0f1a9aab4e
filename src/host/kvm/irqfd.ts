import { futexWait } from '../../actors/futex.ts';
import type { VcpuRecords } from './vcpu-records.ts';

/**
 * irqfd resampling (KVM_IRQFD_FLAG_RESAMPLE, virt/kvm/eventfd.c): when the
 * guest EOIs a line registered with a resamplefd, KVM signals that eventfd so
 * the VMM's device model learns the interrupt was handled and may raise it
 * again. Here the "eventfd" is a counter word on the vCPU's record.
 */

/** vCPU side, at the guest's EOI of a resampled line: signal the resamplefd. */
export function irqfdResampleNotify(vcpu: VcpuRecords): void {
  vcpu.block.wake('resample');
}

/** The resamplefd's count, for a later irqfdResampleWait. */
export function irqfdResampleCount(vcpu: VcpuRecords): number {
  return vcpu.block.load('resample');
}

/**
 * VMM side: sleep until the count moves past `seen` (read before raising the
 * line, so an EOI that comes first is not missed), or `timeoutNs` passes, or
 * irqfdResampleInterrupt() wakes the waiter. Returns whether it moved.
 */
export function irqfdResampleWait(vcpu: VcpuRecords, seen: number, timeoutNs?: number): boolean {
  const v = vcpu.block;
  if (v.load('resample') !== seen) return true;
  futexWait(v.i32, v.I.resample, seen, timeoutNs);
  return v.load('resample') !== seen;
}

/** Wake a VMM thread waiting on the resamplefd without signalling it (used to stop). */
export function irqfdResampleInterrupt(vcpu: VcpuRecords): void {
  vcpu.block.notify('resample');
}
