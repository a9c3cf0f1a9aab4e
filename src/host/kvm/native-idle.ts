import { now } from '../../actors/clock.ts';
import { futexWait } from '../../actors/futex.ts';
import { GUEST_EXIT, type GuestExit } from '../../guest/interpreter.ts';
import { RUN_STATE } from '../thread-state.ts';
import type { KvmVcpu } from './kvm-vcpu.ts';
import { kvmGuestRuns, kvmInjectPending } from './lapic.ts';
import { timerDueOnVcpu, timerExpiry } from './lapic-timer.ts';
import { IDLE_WAIT, MODE, TIMER } from './vcpu-state.ts';

/**
 * Idling in guest mode, the pCPU kept, the thread really blocked, without
 * KVM's halt path (no polling, no halt statistics): x86's native HLT or MWAIT
 * (KVM_X86_DISABLE_EXITS), or arm64's untrapped WFI/WFE (HCR_EL2.TWI/TWE
 * clear at the last vcpu_load). One wait and one wake path for all four: the
 * thread publishes idle_wait, then re-checks and waits on the kick word;
 * kvmVcpuKickForInterrupt and kvm_vcpu_kick bump it once the event is
 * published (kick.ts), so no wakeup is lost.
 *
 * It ends without an exit when an interrupt is delivered into it (posted,
 * see below), for MWAIT when the monitored line is written, for WFE when the
 * event stream ticks; with an exit on a kick's IPI or the vCPU's own timer.
 *
 * arm64 differs in two ways, both architectural. A pending interrupt is a
 * WFI/WFE wakeup event even while the guest masks interrupts (PSTATE.I), so
 * irr alone ends the wait. And delivery without an exit needs GICv4 direct
 * injection (vLPI/vSGI, the only case in which mainline leaves WFI untrapped
 * by default); without it (wfi_trap_policy=notrap, the 2024 proposal) the
 * interrupt reaches the host as a physical IRQ: the wait ends with an IRQ
 * exit and KVM injects it (list registers) at the next entry.
 */

export type NativeIdle = 'hlt' | 'mwait' | 'wfi' | 'wfe';

/**
 * How long an untrapped WFE can wait with no event: Linux arm64 turns on the
 * generic timer's event stream, one event every ARCH_TIMER_EVT_STREAM_PERIOD_US
 * = 100 µs (include/clocksource/arm_arch_timer.h), so a WFE never sleeps longer.
 */
export const WFE_EVENT_STREAM_NS = 100_000;

const IDLE_WAIT_OF = { hlt: IDLE_WAIT.HLT_IN_GUEST, mwait: IDLE_WAIT.MWAIT_IN_GUEST, wfi: IDLE_WAIT.WFI_IN_GUEST, wfe: IDLE_WAIT.WFE_IN_GUEST } as const;
const COUNTER_OF = { hlt: 'hlt_in_guest', mwait: 'mwait_in_guest', wfi: 'wfi_native', wfe: 'wfe_native' } as const;

/**
 * The guest is told to leave guest mode: a kick flipped vcpu->mode, or (APICv)
 * a posted interrupt waits for a guest that takes interrupts, to be delivered
 * in guest mode without an exit (vcpu.ts).
 */
export function kvmVcpuKicked(vcpu: KvmVcpu): boolean {
  const v = vcpu.block;
  return Atomics.load(v.i32, v.I.mode) !== MODE.IN_GUEST_MODE || (vcpu.apicv && vcpu.guest.interruptsEnabled && Atomics.load(v.i32, v.I.pi_on) !== 0);
}

/** A native HLT/MWAIT or an untrapped WFI/WFE: 0 when the guest goes on in guest mode, else the exit that ends it. */
export function kvmIdleInGuest(vcpu: KvmVcpu, kind: NativeIdle, entering: boolean): GuestExit | 0 {
  const v = vcpu.block;
  const mwait = kind === 'mwait';
  const wfx = kind === 'wfi' || kind === 'wfe';
  const direct = vcpu.arch.directInjection;
  let at = now();
  if (entering) vcpu.stats.add(COUNTER_OF[kind], 1);
  // WFI/WFE always complete on an exit (the interpreter moves past them), so each call is one instruction.
  const bound = kind === 'wfe' ? at + WFE_EVENT_STREAM_NS : Infinity;
  vcpu.setRunState(RUN_STATE.NATIVE_IDLE, at);
  v.store('idle_wait', IDLE_WAIT_OF[kind]);
  let exit: GuestExit | 0 = 0;
  for (;;) {
    const seen = Atomics.load(v.i32, v.I.kick);
    if (kvmVcpuKicked(vcpu)) {
      exit = GUEST_EXIT.EXTERNAL_INTERRUPT;
      break;
    }
    if (wfx ? Atomics.load(v.i32, v.I.irr) !== 0 : vcpu.hasEvents()) {
      // arm64 without direct injection: an interrupt the guest can take came as a physical IRQ to
      // the host, an exit. A masked one only ends the wait (haltlab: no exit, it waits in irr for
      // the guest to unmask), so a guest idling masked cannot spin on IRQ exits.
      if (wfx && !direct && vcpu.hasEvents()) exit = GUEST_EXIT.EXTERNAL_INTERRUPT;
      break;
    }
    at = now();
    if (timerDueOnVcpu(v, at)) {
      exit = GUEST_EXIT.PREEMPTION_TIMER;
      break;
    }
    if (mwait && Atomics.load(v.i32, v.I.monitor_armed) === 0) break; // written, or never armed: MWAIT falls through
    if (at >= bound) break; // WFE: the event stream's event
    // The pCPU's own timer bounds the wait, as the preemption timer counts in the HLT/MWAIT state.
    const timer = Atomics.load(v.i32, v.I.timer_mode) === TIMER.ON_VCPU ? timerExpiry(v) : Infinity;
    const until = Math.min(bound, timer);
    futexWait(v.i32, v.I.kick, seen, until === Infinity ? undefined : until - at);
  }
  v.store('idle_wait', IDLE_WAIT.NONE);
  if (exit !== 0) return exit;
  if (mwait) v.store('monitor_armed', 0); // MWAIT's return disarms the monitor
  // Taken after idle_wait is cleared: an interrupt whose sender saw us waiting (and so only woke
  // us, without flipping vcpu->mode) is seen here, never left pending in a running guest.
  if (vcpu.hasEvents()) {
    if (wfx && !direct) return GUEST_EXIT.EXTERNAL_INTERRUPT; // arm64 without GICv4: an IRQ exit
    kvmInjectPending(vcpu, true);
  }
  kvmGuestRuns(vcpu, now());
  return 0;
}
