import { now } from '../../actors/clock.ts';
import type { Record32x64 } from '../../actors/shared-memory.ts';
import { kvmSetIrqPending, type VcpuShared } from '../kvm/kick.ts';
import { KVM_EXIT, type KvmExit } from '../kvm/vcpu.ts';
import { LINE, RUN_STATE, V } from '../kvm/vcpu-state.ts';
import { readRunStates } from '../thread-state.ts';
import { statIndex } from '../kvm/stats.ts';
import { armAlarm, disarmAlarm } from './alarm.ts';

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

export interface SimVcpu {
  run(): KvmExit;
  setRunState(state: number, at: number): void;
}

const GUEST = RUN_STATE.GUEST;
const KVM_EXIT_WFX_COUNT = statIndex('kvm_exit_wfx');

export function runSimLoop(cfg: SimConfig, kvm: SimVcpu, vcpu: VcpuShared, host: Record32x64, stopping: () => boolean, pauseIfPaused: () => void): SimSnapshot {
  const s: SimSnapshot = { mode: cfg.mode, simulated_ns: 0, wall_ns: 0, blocked_in_kernel_ns: 0, guest_ns: 0, quanta: 0, watchdog_kicks: 0, idle_exits: 0, skips: 0, ticks: 0, ticks_coalesced: 0 };
  const states = new Float64Array(readRunStates(vcpu.t, now()).length);
  let nextTick = cfg.tick_ns;
  const t0 = now();
  while (!stopping()) {
    // process-io-devices: the timer's interrupts due by now in virtual time.
    kvm.setRunState(RUN_STATE.VMM, now());
    while (nextTick <= s.simulated_ns) {
      // The simulator's own timer device, a line of its interrupt controller. Two ticks due in one
      // I/O phase (virtual time jumped a whole quantum) make one interrupt, as a level line does.
      if (kvmSetIrqPending(vcpu, LINE.DEVICE0, now())) s.ticks++;
      else s.ticks_coalesced++;
      nextTick += cfg.tick_ns;
    }
    // vcpu-run, for at most a quantum.
    readRunStates(vcpu.t, now(), states);
    const guest0 = states[GUEST];
    const kernel0 = states[RUN_STATE.BLOCKED] + states[RUN_STATE.POLLING];
    const quantumStart = s.simulated_ns;
    armAlarm(vcpu, host, now() + cfg.quantum_ns);
    const exit = kvm.run();
    const fired = !disarmAlarm(vcpu);
    s.quanta++;
    readRunStates(vcpu.t, now(), states);
    const ran = states[GUEST] - guest0;
    s.guest_ns += ran;
    s.blocked_in_kernel_ns += states[RUN_STATE.BLOCKED] + states[RUN_STATE.POLLING] - kernel0;
    s.simulated_ns += ran;
    if (exit === KVM_EXIT.SHUTDOWN) break;
    if (exit === KVM_EXIT.INTR) {
      Atomics.store(vcpu.v.i32, V.signal_pending, 0); // the signal has been taken
      pauseIfPaused(); // a stopped VM (the demo's pause) stops the simulator too
    }
    if (fired) s.watchdog_kicks++;
    if (exit === KVM_EXIT.HLT || exit === KVM_EXIT.WFX) {
      // Exit on WFI: idle with nothing pending. Skip forward to the next timer event.
      s.idle_exits++;
      if (exit === KVM_EXIT.WFX) Atomics.add(vcpu.s.i32, KVM_EXIT_WFX_COUNT, 1);
      if (nextTick > s.simulated_ns) {
        s.simulated_ns = nextTick;
        s.skips++;
      }
    } else if (fired) {
      // The budget is spent: the whole quantum passed in virtual time, however much of it the
      // guest idled (the simulator cannot tell when a vCPU blocked in the kernel went idle).
      s.simulated_ns = Math.max(s.simulated_ns, quantumStart + cfg.quantum_ns);
    }
  }
  disarmAlarm(vcpu);
  s.wall_ns = now() - t0;
  return s;
}
