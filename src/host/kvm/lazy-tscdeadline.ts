import type { VcpuRecords } from './vcpu-records.ts';
import type { VcpuRecord } from './vcpu-state.ts';

/**
 * The host half of the lazy tscdeadline PV proposal (RFC v3, Wang Jianchao,
 * July 2023, patch 5/6 "add lazy tscdeadline support to reduce vm-exit of
 * msr-write"; reference §2.8; never merged). The guest's page holds `armed`
 * (written here) and `pending` (written by the guest's clockevent, see
 * guest/kernel/clockevent.ts). Everything is a no-op until the guest has
 * registered its page (MSR_KVM_LAZY_TSCDEADLINE with KVM_MSR_ENABLED).
 */

const registered = (v: VcpuRecord) => v.load('lazy_tscdeadline') !== 0;

/** A guest write of MSR_KVM_LAZY_TSCDEADLINE: bit 0 registers the page; clearing it unregisters (and clears armed). */
export function kvmLazyTscdeadlineSetMsr(v: VcpuRecord, data: number): void {
  if (!(data & 1)) kvmLazyTscdeadlineClear(v);
  v.store('lazy_tscdeadline', data & 1);
}

/** kvm_lazy_tscdeadline_update(): the deadline the guest wrote to the MSR is now the armed one (0: none). */
export function kvmLazyTscdeadlineUpdate(v: VcpuRecord, tsc: number): void {
  if (registered(v)) v.set('lazy_armed', tsc);
}

/**
 * kvm_lazy_tscdeadline_clear(): nothing is armed any more. Needed whenever a
 * deadline is consumed, else the guest would keep writing only `pending`
 * against a stale `armed` and its clockevent would hang.
 */
export function kvmLazyTscdeadlineClear(v: VcpuRecord): void {
  if (registered(v)) v.set('lazy_armed', 0);
}

/**
 * Will the armed deadline's expiry re-arm rather than fire? Asked as the vCPU
 * goes to sleep: its guest, the only writer of `pending`, is halted, so the
 * answer cannot change before the expiry (kvmLazyTscdeadlineKick then decides).
 */
export function kvmLazyTscdeadlineWillRearm(v: VcpuRecord): boolean {
  if (!registered(v)) return false;
  const armed = v.get('lazy_armed');
  return armed !== 0 && v.get('lazy_pending') > armed;
}

/**
 * kvm_lazy_tscdeadline_kick(), when the armed deadline expires (preemption
 * timer, or the hrtimer while the vCPU sleeps). If the guest has since asked
 * for a later deadline that still lies ahead, it becomes the armed one and is
 * returned: the caller re-arms there and injects nothing. Otherwise armed is
 * cleared and 0 returned: the caller fires. A later pending deadline already
 * past fires now, as the patch's re-arm finds it expired (start_hv_timer /
 * start_sw_tscdeadline) and clears armed.
 */
export function kvmLazyTscdeadlineKick(vcpu: VcpuRecords, at: number): number {
  const v = vcpu.block;
  if (!registered(v)) return 0;
  const armed = v.get('lazy_armed');
  if (armed === 0) return 0;
  const next = v.get('lazy_pending');
  if (next > armed && next > at) {
    v.set('lazy_armed', next);
    vcpu.stats.add('lazy_tscdeadline_rearms', 1);
    return next;
  }
  v.set('lazy_armed', 0);
  return 0;
}
