import { futexWait } from '../../actors/futex.ts';
import type { VcpuShared } from './kick.ts';
import { V } from './vcpu-state.ts';

/**
 * irqfd resampling (KVM_IRQFD_FLAG_RESAMPLE, virt/kvm/eventfd.c): when the
 * guest EOIs a line registered with a resamplefd, KVM signals that eventfd so
 * the VMM's device model learns the interrupt was handled and may raise it
 * again. Here the "eventfd" is a counter word on the vCPU's record.
 */

/** vCPU side, at the guest's EOI of a resampled line: signal the resamplefd. */
export function irqfdResampleNotify(vcpu: VcpuShared): void {
  Atomics.add(vcpu.v.i32, V.resample, 1);
  Atomics.notify(vcpu.v.i32, V.resample);
}

/** The resamplefd's count, for a later irqfdResampleWait. */
export function irqfdResampleCount(vcpu: VcpuShared): number {
  return Atomics.load(vcpu.v.i32, V.resample);
}

/**
 * VMM side: sleep until the count moves past `seen` (read before raising the
 * line, so an EOI that comes first is not missed), or `timeoutNs` passes, or
 * irqfdResampleInterrupt() wakes the waiter. Returns whether it moved.
 */
export function irqfdResampleWait(vcpu: VcpuShared, seen: number, timeoutNs?: number): boolean {
  if (Atomics.load(vcpu.v.i32, V.resample) !== seen) return true;
  futexWait(vcpu.v.i32, V.resample, seen, timeoutNs);
  return Atomics.load(vcpu.v.i32, V.resample) !== seen;
}

/** Wake a VMM thread waiting on the resamplefd without signalling it (used to stop). */
export function irqfdResampleInterrupt(vcpu: VcpuShared): void {
  Atomics.notify(vcpu.v.i32, V.resample);
}
