import { now } from '../../actors/clock.ts';
import { GUEST_EXIT } from '../../guest/interpreter.ts';
import { EV } from '../../trace/tracer.ts';
import { RUN_STATE } from '../thread-state.ts';
import { KvmError } from './errors.ts';
import { kvmVcpuHalt } from './halt.ts';
import type { KvmVcpu } from './kvm-vcpu.ts';
import { kvmDeliverPosted, kvmGuestRuns, kvmInjectPending, kvmWaitLapicExpire } from './lapic.ts';
import { timerDueOnVcpu } from './lapic-timer.ts';
import { vcpuLoad, vcpuPut } from './preempt-notifier.ts';
import { KVM_EXIT, type KvmExit } from './uapi.ts';
import { LINE, MODE, MP_STATE } from './vcpu-state.ts';

/**
 * KVM_RUN (kvm_arch_vcpu_ioctl_run -> vcpu_run, arch/x86/kvm/x86.c): alternate
 * entering the guest and blocking while halted, handle exits in "the kernel"
 * through the architecture's exit table, and return to the VMM only for what
 * KVM returns for: a pending signal (KVM_EXIT_INTR), a HLT without an
 * in-kernel LAPIC (KVM_EXIT_HLT), a guest that ends, and, with the proposals,
 * the HLT/MWAIT/WFx exits the VMM asked for.
 */

/** KVM_RUN. The caller (the VMM's vCPU loop) holds a pCPU for this thread. */
export function kvmVcpuRun(vcpu: KvmVcpu): KvmExit {
  const v = vcpu.block;
  // immediate_exit is polled once when KVM_RUN starts (api.rst): -EINTR before vcpu_run, so no
  // signal_exits (kvm_arch_vcpu_ioctl_run's `if (!vcpu->wants_to_run)`); the VMM clears it after.
  if (v.load('immediate_exit')) {
    v.store('immediate_exit', 0);
    return KVM_EXIT.INTR;
  }
  vcpuLoad(vcpu);
  try {
    return vcpuRun(vcpu);
  } finally {
    vcpuPut(vcpu);
  }
}

/** vcpu_run(): until something is for the VMM. */
function vcpuRun(vcpu: KvmVcpu): KvmExit {
  const v = vcpu.block;
  const { sched, task } = vcpu;
  for (;;) {
    const r = v.load('mp_state') === MP_STATE.RUNNABLE ? vcpuEnterGuest(vcpu) : vcpuBlock(vcpu);
    if (r !== 0) return r;
    // if (kvm_cpu_has_pending_timer()) kvm_inject_pending_timer_irqs(): the pending timer is now in the IRR.
    if (v.load('timer_pending')) v.store('timer_pending', 0);
    if (v.load('signal_pending')) return exitIntr(vcpu);
    if (sched.needResched(task)) sched.yield(task); // cond_resched(): preempted at the tick
  }
}

/** vcpu_enter_guest(): inject, enter, run guest code until an exit, dispatch it. 0 = stay in the kernel. */
export function vcpuEnterGuest(vcpu: KvmVcpu): KvmExit | 0 {
  const v = vcpu.block;
  let at = now();
  if (timerDueOnVcpu(v, at)) vcpu.fireOwnTimer(at);
  kvmInjectPending(vcpu);
  if (vcpu.injectedLine === LINE.LAPIC_TIMER) kvmWaitLapicExpire(vcpu);
  v.store('mode', MODE.IN_GUEST_MODE);
  // A kick or signal that raced with entry: cancel it (vcpu->mode re-check after entering guest mode).
  if (v.load('signal_pending') || vcpu.sched.needResched(vcpu.task)) {
    v.store('mode', MODE.OUTSIDE_GUEST_MODE);
    return 0;
  }
  vcpu.arch.enter();
  kvmGuestRuns(vcpu, now());
  let exit = vcpu.guest.run(vcpu.guestHost);
  // Posted interrupts (APICv): taken in guest mode, no exit; the guest goes on from its handler.
  while (exit === GUEST_EXIT.EXTERNAL_INTERRUPT && kvmDeliverPosted(vcpu)) exit = vcpu.guest.run(vcpu.guestHost);
  v.store('mode', MODE.OUTSIDE_GUEST_MODE);
  at = now();
  vcpu.setRunState(RUN_STATE.HOST, at);
  if (exit === GUEST_EXIT.SHUTDOWN) return KVM_EXIT.SHUTDOWN;
  const entry = vcpu.arch.exits[exit];
  if (entry === undefined) throw new KvmError('unhandled-exit', vcpu.id, `guest exit ${exit} does not exist on ${vcpu.arch.name}`);
  vcpu.tracer.emit(at, EV.EXIT, entry.traced);
  vcpu.stats.add('exits', 1);
  Atomics.add(vcpu.stats.i32, entry.stat, 1);
  // What a VM exit and re-entry cost on real hardware, paid as real busy time (0: the model's own code only).
  if (vcpu.exitCostNs > 0) for (const end = now() + vcpu.exitCostNs; now() < end; );
  return entry.handle(vcpu, exit, at);
}

/** vcpu_block() for a halted vCPU: kvm_vcpu_halt(), then HALTED -> RUNNABLE if an event woke it. */
function vcpuBlock(vcpu: KvmVcpu): 0 {
  kvmVcpuHalt(vcpu);
  // A signal leaves mp_state HALTED (KVM_EXIT_INTR with the vCPU still halted); an interrupt unhalts it.
  if (vcpu.hasEvents()) vcpu.block.store('mp_state', MP_STATE.RUNNABLE);
  vcpu.setRunState(RUN_STATE.HOST, now());
  return 0;
}

/** kvm_handle_signal_exit(): a signal pending in vcpu_run is KVM_EXIT_INTR, counted in signal_exits. */
function exitIntr(vcpu: KvmVcpu): KvmExit {
  vcpu.block.store('immediate_exit', 0);
  vcpu.stats.add('signal_exits', 1);
  return KVM_EXIT.INTR;
}
