import { now } from '../../actors/clock.ts';
import { EV } from '../../trace/tracer.ts';
import { RUN_STATE } from '../thread-state.ts';
import { KvmError } from './errors.ts';
import { irqfdResampleNotify } from './irqfd.ts';
import type { KvmVcpu } from './kvm-vcpu.ts';
import { adjustLapicTimerAdvance } from './timer-advance.ts';
import { IRQ_LINES, LINE, LINE_VECTOR, MODE } from './vcpu-state.ts';

/**
 * The vCPU's LAPIC on its own thread (arch/x86/kvm/lapic.c; the GIC's CPU
 * interface plays it on arm64): injecting the lowest pending line at entry,
 * delivering a posted interrupt into a vCPU in guest mode, the EOI, and
 * __kvm_wait_lapic_expire. The timer's cross-thread half is lapic-timer.ts;
 * making a line pending and kicking is kick.ts.
 */

/**
 * Inject the lowest pending line if the guest accepts interrupts. Its
 * wake-latency sample ends when guest code next runs (an entry cancelled by a
 * racing signal keeps it for the next one; with IF now clear, no second
 * injection can come first). `posted`: delivered into a vCPU idling in guest
 * mode, by "hardware", not injected by KVM at entry: not an irq_injection.
 */
export function kvmInjectPending(vcpu: KvmVcpu, posted = false): void {
  if (!vcpu.guest.interruptsEnabled) return;
  const v = vcpu.block;
  const irr = Atomics.load(v.i32, v.I.irr);
  if (irr === 0) return;
  const line = 31 - Math.clz32(irr & -irr);
  if (line >= IRQ_LINES) throw new KvmError('bad-line', vcpu.id, `pending line ${line} does not exist`);
  v.and('irr', ~(1 << line));
  vcpu.stats.add(posted ? 'posted_interrupts' : 'irq_injections', 1);
  vcpu.stats.add(line === LINE.LAPIC_TIMER ? 'timer_interrupts_injected' : 'device_interrupts_injected', 1);
  vcpu.injectedLine = line;
  vcpu.injectedSince = v.f64[v.F.pending_since + line];
  vcpu.inService.push(line);
  vcpu.guest.inject(LINE_VECTOR[line]);
}

/** The guest EOIs the innermost interrupt in service; a resampled line tells the VMM's device. */
export function kvmLapicEoi(vcpu: KvmVcpu): void {
  const line = vcpu.inService.pop();
  if (line !== undefined && (vcpu.kvm.load('resample_lines') & (1 << line)) !== 0) irqfdResampleNotify(vcpu);
}

/**
 * A posted interrupt reached the vCPU in guest mode (the ON bit set while it
 * ran guest code, IF=1): deliver it as the processor does, with no exit, and
 * go on. False when the external-interrupt stop was a real kick instead.
 */
export function kvmDeliverPosted(vcpu: KvmVcpu): boolean {
  const v = vcpu.block;
  if (!vcpu.apicv || v.load('mode') !== MODE.IN_GUEST_MODE || v.load('pi_on') === 0) return false;
  v.store('pi_on', 0);
  kvmInjectPending(vcpu, true);
  if (vcpu.injectedLine === LINE.LAPIC_TIMER) kvmWaitLapicExpire(vcpu);
  kvmGuestRuns(vcpu, now());
  return true;
}

/**
 * __kvm_wait_lapic_expire(), as the deadline timer's interrupt is about to
 * enter the guest: tune timer_advance_ns by how early or late this is, then
 * busy-wait to the deadline if it is still ahead. haltlab waits all of it
 * (KVM caps the wait at timer_advance_ns), so the guest never sees it early.
 */
export function kvmWaitLapicExpire(vcpu: KvmVcpu): void {
  const v = vcpu.block;
  const deadline = v.get('expired_tscdeadline');
  v.set('expired_tscdeadline', 0);
  const advance = v.get('timer_advance_ns');
  if (deadline === 0 || advance === 0) return;
  const at = now();
  v.set('timer_advance_ns', adjustLapicTimerAdvance(advance, at - deadline));
  while (now() < deadline) {
    // __delay(): the interrupt is held until the deadline
  }
}

/** The guest runs from here: an injected interrupt's wake-latency sample ends now. */
export function kvmGuestRuns(vcpu: KvmVcpu, at: number): void {
  vcpu.setRunState(RUN_STATE.GUEST, at);
  if (vcpu.injectedLine >= 0) {
    vcpu.tracer.emit(at, EV.INJECT, vcpu.injectedLine, vcpu.injectedSince);
    vcpu.observer.injected(vcpu.injectedLine, vcpu.injectedSince, at);
    vcpu.injectedLine = -1;
  }
}
