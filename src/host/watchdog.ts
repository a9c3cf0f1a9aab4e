import { now } from '../actors/clock.ts';
import { IRQ_LINES, TIMER } from './kvm/vcpu-state.ts';
import { vcpuRecords } from './layout.ts';
import type { Vm } from './vm.ts';
import type { VcpuRecords } from './kvm/vcpu-records.ts';
import { RUN_STATE, runStateOf } from './thread-state.ts';

/**
 * The stress watchdog: looks at every vCPU's shared state while the run goes
 * on, for what must never last: a vCPU asleep in kvm_vcpu_block() with an
 * interrupt pending (a lost wakeup), a sleeping vCPU whose deadline passed
 * without the host firing it (a lost timer), and halt statistics that do not
 * add up. A finding names the vCPU, its state and its last events.
 */

export interface WatchdogFinding {
  vcpu: number;
  at_s: number;
  problem: string;
  state: string;
  last_events: string[];
}

export class Watchdog {
  checks = 0;

  constructor(
    private readonly vm: Vm,
    /** How long a vCPU may stay blocked with a wake condition before it counts as lost. */
    private readonly boundNs: number,
  ) {}

  check(): WatchdogFinding[] {
    this.checks++;
    const out: WatchdogFinding[] = [];
    const t = now();
    const elapsed = this.vm.elapsedS();
    for (let id = 0; id < this.vm.scenario.vm.vcpus; id++) {
      const vcpu = vcpuRecords(this.vm.mem, id);
      const problem = this.problemOf(vcpu, t);
      if (problem) {
        out.push({ vcpu: id, at_s: elapsed, problem, state: this.vm.doing(`vcpu${id}`), last_events: this.vm.lastEvents(`vcpu${id}`) });
      }
    }
    return out;
  }

  private problemOf({ block: v, stats: s, thread }: VcpuRecords, t: number): string | null {
    // Read in the reverse order of the increments, so a consistent vCPU never looks inconsistent.
    const successful = s.load('halt_successful_poll');
    const attempted = s.load('halt_attempted_poll');
    const halts = s.load('halt_calls'); // kvm_vcpu_halt() calls: HLTs, arm64's trapped WFIs, re-entries of a halted vCPU
    if (successful > attempted || attempted > halts) return `halt statistics do not add up: ${successful} successful > ${attempted} attempted or > ${halts} kvm_vcpu_halt() calls`;
    // Asleep waiting for an interrupt: in kvm_vcpu_block, idling in guest mode (a native HLT/MWAIT, an
    // untrapped WFI/WFE on arm64), or halted in the VMM. Each must wake for a pending interrupt.
    const state = runStateOf(thread);
    if (state !== RUN_STATE.BLOCKED && state !== RUN_STATE.NATIVE_IDLE && state !== RUN_STATE.VMM_HALTED) return null;
    const where = state === RUN_STATE.BLOCKED ? 'blocked' : state === RUN_STATE.NATIVE_IDLE ? 'idle in guest mode in a native HLT/MWAIT or in an untrapped WFI/WFE' : 'halted in the VMM';
    const irr = v.load('irr');
    for (let line = 0; line < IRQ_LINES; line++) {
      if (!(irr & (1 << line))) continue;
      const ms = (t - v.f64[v.F.pending_since + line]) / 1e6;
      if (ms * 1e6 > this.boundNs) return `${where} for ${ms.toFixed(0)} ms with interrupt line ${line} pending: a lost wakeup`;
    }
    // Asleep, the hrtimer owns the timer (run by the host actor or by the sleeping thread itself);
    // idle in guest mode, the vCPU still owns it (its pCPU's timer).
    const mode = Atomics.load(v.i32, v.I.timer_mode);
    if (state === RUN_STATE.NATIVE_IDLE ? mode === TIMER.ON_VCPU : mode === TIMER.ON_HOST || mode === TIMER.ON_SLEEPER) {
      const late = (t - v.f64[v.F.tsc_deadline]) / 1e6;
      if (late * 1e6 > this.boundNs) return `${where}, its deadline ${late.toFixed(0)} ms past and not fired: a lost timer`;
    }
    return null;
  }
}

