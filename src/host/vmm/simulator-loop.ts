import { now } from '../../actors/clock.ts';
import { kvmSetIrqPending } from '../kvm/kick.ts';
import type { KvmVcpu } from '../kvm/kvm-vcpu.ts';
import { KVM_EXIT, type KvmExit } from '../kvm/uapi.ts';
import { kvmVcpuRun } from '../kvm/vcpu.ts';
import { LINE } from '../kvm/vcpu-state.ts';
import { readRunStates, RUN_STATE, RUN_STATE_NAMES } from '../thread-state.ts';
import type { VmActorConfig, VmActorContext } from '../vm-actor.ts';
import { armAlarm, disarmAlarm } from './alarm.ts';
import type { VcpuEmulation } from './vcpu-state-machine.ts';
import { VMM_EXIT_HANDLERS } from './vmm-exits.ts';
import { VmmVcpu } from './vmm-vcpu.ts';

/**
 * A single-threaded simulation loop on KVM (seeds/001, reference §7): one
 * thread alternates "vcpu-run | process-io-devices | vcpu-run ...". Its
 * devices live in virtual time: here a periodic timer whose interrupt is
 * injected in the I/O phase. KVM_RUN is left when a watchdog signal fires at
 * the end of the budget (`quantum_ns` of wall time, standing for a PMU
 * instruction budget), or, with the exit-on-WFI proposal, as soon as the
 * guest idles with nothing pending; then virtual time jumps to the next timer
 * event. Without that exit, an idle guest blocks in the kernel until the
 * watchdog: wall time spent for nothing.
 *
 * Virtual time advances by the time the guest ran code, plus either the jump
 * to the next event (exit on WFI) or, when the watchdog ends KVM_RUN, the rest
 * of the quantum (the simulator cannot know when the guest went idle).
 *
 * It is the VMM's vCPU loop (the same state machine and exit table) with a
 * KVM_RUN of its own around the kernel's.
 */

export type SimMode = 'exit-on-wfi' | 'watchdog';

export interface SimConfig {
  mode: SimMode;
  quantum_ns: number;
  /** The virtual timer device's period. */
  tick_ns: number;
}

export interface SimSnapshot {
  mode: SimMode;
  simulated_ns: number;
  wall_ns: number;
  /** Wall time the thread spent polling or asleep in kvm_vcpu_block with nothing to do but wait for the watchdog. */
  blocked_in_kernel_ns: number;
  guest_ns: number;
  quanta: number;
  watchdog_kicks: number;
  idle_exits: number;
  /** Jumps of virtual time to the next timer event. */
  skips: number;
  ticks: number;
  /** Ticks due while the previous one was still pending: merged into it. */
  ticks_coalesced: number;
}

export class SimulatorLoop extends VmmVcpu {
  readonly result: SimSnapshot;
  private readonly states = new Float64Array(RUN_STATE_NAMES.length);
  private nextTick: number;
  private t0 = 0;

  constructor(
    vcpu: KvmVcpu,
    ctx: VmActorContext<VmActorConfig>,
    userspaceExits: number,
    private readonly cfg: SimConfig,
  ) {
    super(vcpu, ctx, userspaceExits);
    this.result = { mode: cfg.mode, simulated_ns: 0, wall_ns: 0, blocked_in_kernel_ns: 0, guest_ns: 0, quanta: 0, watchdog_kicks: 0, idle_exits: 0, skips: 0, ticks: 0, ticks_coalesced: 0 };
    this.nextTick = cfg.tick_ns;
  }

  /** The loop starts: virtual and wall time from here. */
  begin(): void {
    this.t0 = now();
  }

  override runEmulation(): VcpuEmulation {
    const { vcpu, cfg, result: s, states } = this;
    // process-io-devices: the timer's interrupts due by now in virtual time.
    vcpu.setRunState(RUN_STATE.VMM, now());
    while (this.nextTick <= s.simulated_ns) {
      // The simulator's own timer device, a line of its interrupt controller. Two ticks due in one
      // I/O phase (virtual time jumped a whole quantum) make one interrupt, as a level line does.
      if (kvmSetIrqPending(vcpu, LINE.DEVICE0, now())) s.ticks++;
      else s.ticks_coalesced++;
      this.nextTick += cfg.tick_ns;
    }
    // vcpu-run, for at most a quantum.
    readRunStates(vcpu.thread, now(), states);
    const guest0 = states[RUN_STATE.GUEST];
    const kernel0 = states[RUN_STATE.BLOCKED] + states[RUN_STATE.POLLING];
    const quantumStart = s.simulated_ns;
    armAlarm(vcpu, vcpu.host, now() + cfg.quantum_ns);
    vcpu.block.store('userspace_exits', this.userspaceExits);
    const exit = kvmVcpuRun(vcpu);
    const fired = !disarmAlarm(vcpu);
    s.quanta++;
    readRunStates(vcpu.thread, now(), states);
    const ran = states[RUN_STATE.GUEST] - guest0;
    s.guest_ns += ran;
    s.blocked_in_kernel_ns += states[RUN_STATE.BLOCKED] + states[RUN_STATE.POLLING] - kernel0;
    s.simulated_ns += ran;
    const idle = exit === KVM_EXIT.HLT || exit === KVM_EXIT.WFX;
    const outcome = VMM_EXIT_HANDLERS[exit](this);
    if (outcome === 'stopped') return outcome;
    if (fired) s.watchdog_kicks++;
    // The budget is spent: the whole quantum passed in virtual time, however much of it the
    // guest idled (the simulator cannot tell when a vCPU blocked in the kernel went idle).
    if (!idle && fired) s.simulated_ns = Math.max(s.simulated_ns, quantumStart + cfg.quantum_ns);
    return outcome;
  }

  /** Exit on WFI: idle with nothing pending. Skip forward to the next timer event. */
  override idleExit(exit: KvmExit): void {
    if (exit !== KVM_EXIT.HLT && exit !== KVM_EXIT.WFX) return;
    const s = this.result;
    s.idle_exits++;
    if (this.nextTick > s.simulated_ns) {
      s.simulated_ns = this.nextTick;
      s.skips++;
    }
  }

  /** The loop has ended. */
  finish(): SimSnapshot {
    disarmAlarm(this.vcpu);
    this.result.wall_ns = now() - this.t0;
    return this.result;
  }
}
