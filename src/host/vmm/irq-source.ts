import { now } from '../../actors/clock.ts';
import { futexWait } from '../../actors/futex.ts';
import { prng } from '../../actors/prng.ts';
import { kvmSetIrqPending, kvmVcpuKickForInterrupt } from '../kvm/kick.ts';
import { irqfdResampleCount, irqfdResampleWait } from '../kvm/irqfd.ts';
import { vcpuRecords } from '../layout.ts';
import { EV } from '../../trace/tracer.ts';
import { RUN_STATE } from '../thread-state.ts';
import { serveVmActor, STOP_CHECK_NS, type VmActorConfig } from '../vm-actor.ts';

/**
 * A device on a VMM I/O thread with one interrupt in flight at a time, like a
 * disk with one outstanding request: it sleeps a random gap, raises its line
 * on the next vCPU round-robin (irqfd: make the line pending, kvm_vcpu_kick),
 * then sleeps until the guest's EOI comes back through the irqfd's resamplefd.
 * So every sample is one wakeup of an idle vCPU, never a coalesced one.
 */

export interface IrqSourceConfig extends VmActorConfig {
  vcpus: number;
  line: number;
  /** Mean gap between interrupts, ns; each gap is uniform in mean*(1 ± jitter). */
  gap_ns: number;
  jitter: number;
  /** Deterministic gaps for reproducible runs. */
  seed: number;
}

export interface IrqSourceSnapshot {
  raised: number;
  /** EOIs received through the resamplefd. */
  eois: number;
}

serveVmActor<IrqSourceConfig, IrqSourceSnapshot>(
  ({ config: cfg, mem, vmm, tracer, thread, stopping, checkFault, waitWhilePaused }) => {
    const vcpus = Array.from({ length: cfg.vcpus }, (_, i) => vcpuRecords(mem, i));
    const random = prng(cfg.seed);
    let raised = 0;
    let eois = 0;
    const state = (s: number) => thread.enter(s);
    /** Sleep until `deadline` or the VMM stops (the stop word is the wait word, so stop wakes us). */
    const sleepUntil = (deadline: number) => {
      for (let t = now(); t < deadline && !stopping(); t = now()) futexWait(vmm.i32, vmm.I.stop, 0, deadline - t);
    };
    return {
      loop(): void {
        for (let next = 0; !stopping(); next = (next + 1) % vcpus.length) {
          state(RUN_STATE.BLOCKED);
          sleepUntil(now() + cfg.gap_ns * (1 + cfg.jitter * (2 * random() - 1)));
          // A stopped VM's devices raise nothing (QEMU's vm_stop) until it runs again.
          waitWhilePaused();
          state(RUN_STATE.VMM);
          if (stopping()) break;
          checkFault('about to raise a device interrupt');
          const vcpu = vcpus[next];
          const seen = irqfdResampleCount(vcpu); // before raising, so an EOI cannot slip past the wait
          const at = now();
          if (kvmSetIrqPending(vcpu, cfg.line, at)) raised++;
          const woke = kvmVcpuKickForInterrupt(vcpu);
          if (tracer.on) {
            // After the kick: tracing must not delay it. Untraced, no clock read at all.
            tracer.emit(at, EV.IRQ_RAISE, vcpu.id, cfg.line);
            tracer.emit(now(), EV.KICK, vcpu.id, woke ? 1 : 0);
          }
          // Until the guest EOIs it. The timeout only bounds how long a stop can go unnoticed.
          state(RUN_STATE.BLOCKED);
          while (!irqfdResampleWait(vcpu, seen, STOP_CHECK_NS)) {
            if (stopping()) break;
            checkFault(`waiting for vcpu${vcpu.id}'s EOI`);
          }
          if (irqfdResampleCount(vcpu) !== seen) {
            eois++;
            if (tracer.on) tracer.emit(now(), EV.EOI, vcpu.id);
          }
        }
      },
      snapshot: () => ({ raised, eois }),
    };
  },
  { state: RUN_STATE.VMM, preciseTimers: true },
);
