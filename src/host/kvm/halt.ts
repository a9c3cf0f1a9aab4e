import { now } from '../../actors/clock.ts';
import { futexWait } from '../../actors/futex.ts';
import type { Record32x64 } from '../../actors/shared-memory.ts';
import type { Scheduler } from '../sched/scheduler.ts';
import { T } from '../sched/task-state.ts';
import {
  adjustHaltPollNs,
  clampHaltPollNs,
  kvmVcpuMaxHaltPollNs,
  log2HistBucket,
  type HaltPollCap,
  type HaltPollParams,
} from './halt-poll.ts';
import type { VcpuShared } from './kick.ts';
import { statIndex, timeIndex } from './stats.ts';
import { fixedHaltPollWindow, readHaltPollCap, readHaltPollParams, type KvmVmRecord } from './vm-state.ts';
import { RCUWAIT, RUN_STATE, V, VF } from './vcpu-state.ts';
import { switchTimerToHost, switchTimerToVcpu } from './lapic-timer.ts';
import { EV, type Tracer } from '../../trace/tracer.ts';

/**
 * kvm_vcpu_halt() and kvm_vcpu_block() (virt/kvm/kvm_main.c), on the vCPU
 * thread, step for step as reference §1.3 restates them. The window arithmetic
 * is pure and lives in halt-poll.ts; this file is the part that really polls
 * (a loop on shared memory that burns this thread's core) and really sleeps
 * (Atomics.wait on the vCPU's kick word).
 */

/** What the halt path asks of the host scheduler (sched/scheduler.ts). */
export type HaltSched = Pick<Scheduler, 'tasks' | 'singleTaskRunning' | 'needResched' | 'release' | 'acquire'>;

export interface HaltHost {
  readonly vcpu: VcpuShared;
  readonly task: number;
  readonly sched: HaltSched;
  readonly host: Record32x64;
  readonly kvm: KvmVmRecord;
  readonly tracer: Tracer;
  /** kvm_vcpu_check_block() < 0: a wake condition holds at `at` (may fire a due timer first). */
  checkBlock(at: number): boolean;
  /** kvm_arch_no_poll(): the guest has turned host polling off for this vCPU. */
  noPoll(): boolean;
  setRunState(state: number, at: number): void;
  /** kvm_arch_vcpu_load after the blocked thread got a pCPU again. */
  scheduledIn(): void;
}

const S = {
  successful: statIndex('halt_successful_poll'),
  attempted: statIndex('halt_attempted_poll'),
  blocking: statIndex('blocking'),
  successNs: timeIndex('halt_poll_success_ns'),
  failNs: timeIndex('halt_poll_fail_ns'),
  waitNs: timeIndex('halt_wait_ns'),
  successHist: statIndex('halt_poll_success_hist'),
  failHist: statIndex('halt_poll_fail_hist'),
  waitHist: statIndex('halt_wait_hist'),
  calls: statIndex('halt_calls'),
};

export class HaltPath {
  private readonly params: HaltPollParams = { halt_poll_ns: 0, halt_poll_ns_grow: 0, halt_poll_ns_grow_start: 0, halt_poll_ns_shrink: 0 };
  private readonly cap: HaltPollCap = { override_halt_poll_ns: false, max_halt_poll_ns: 0 };

  /** `clock`: ktime_get(); a test passes a fake one to replay the reference's examples exactly. */
  constructor(
    private readonly h: HaltHost,
    private readonly clock: () => number = now,
  ) {}

  /** kvm_vcpu_halt(): poll for up to vcpu->halt_poll_ns, then block; account; adapt the window. */
  halt(): void {
    const { vcpu, sched, task } = this.h;
    const v = vcpu.v;
    const s = vcpu.s;
    Atomics.add(s.i32, S.calls, 1);
    // 1. Read the ceiling (params re-read on every halt: a change applies from the next halt).
    let max = kvmVcpuMaxHaltPollNs(readHaltPollParams(this.h.kvm, this.params), readHaltPollCap(this.h.kvm, this.cap));
    const allowed = !this.h.noPoll();
    // 2. Clamp at entry: growing does not clamp, only the next halt does. (Linux 4.0: no window, the ceiling.)
    const fixed = fixedHaltPollWindow(this.h.kvm);
    const before = v.f64[VF.halt_poll_ns];
    const window = fixed ? max : clampHaltPollNs(before, max);
    if (window !== before) {
      v.f64[VF.halt_poll_ns] = window;
      this.h.tracer.emit(this.clock(), EV.HALT_POLL_NS, window);
    }
    // 3. Poll only if allowed and the window is non-zero.
    const doPoll = allowed && window !== 0;
    const start = this.clock();
    let cur = start;
    let pollEnd = start;
    let waited = false;
    let woke = false;
    if (doPoll) {
      // 4. Poll, do-while: the wake condition is checked at least once.
      this.h.setRunState(RUN_STATE.POLLING, start);
      const stop = start + window;
      const cpu = Atomics.load(sched.tasks[task].i32, T.pcpu);
      do {
        if (this.h.checkBlock(cur)) {
          woke = true;
          break;
        }
        pollEnd = cur = this.clock();
        // kvm_vcpu_can_poll: single_task_running() && !need_resched() && now < stop
      } while (sched.singleTaskRunning(cpu) && !sched.needResched(task) && cur < stop);
    }
    if (!woke) {
      // 5. Sleep.
      waited = this.block();
      cur = this.clock();
      if (waited) {
        s.f64[S.waitNs] += cur - pollEnd;
        this.hist(S.waitHist, cur - pollEnd);
      }
    }
    // 6. Account: halt_ns is the whole halt, polling included.
    const haltNs = cur - start;
    if (doPoll) this.updateHaltPollStats(pollEnd - start, !waited);
    // 7. Adapt, only if polling is allowed (and the kernel has an adaptive window).
    if (allowed && !fixed) {
      max = kvmVcpuMaxHaltPollNs(readHaltPollParams(this.h.kvm, this.params), readHaltPollCap(this.h.kvm, this.cap));
      const next = adjustHaltPollNs({ halt_poll_ns: window, halt_ns: haltNs, max, valid_wakeup: true }, this.params).halt_poll_ns;
      v.f64[VF.halt_poll_ns] = next;
      if (next !== window) this.h.tracer.emit(cur, EV.HALT_POLL_NS, next);
    }
  }

  /**
   * kvm_vcpu_block(): register on the wait, then loop { mark the kick word read
   * (set_current_state), check, schedule() }. Returns whether it really slept.
   */
  private block(): boolean {
    const { vcpu, sched, task } = this.h;
    const v = vcpu.v;
    Atomics.store(vcpu.s.i32, S.blocking, 1);
    switchTimerToHost(vcpu, this.h.host); // kvm_arch_vcpu_blocking: the hrtimer must wake a sleeper
    Atomics.store(v.i32, V.rcuwait, RCUWAIT.RUNNING); // prepare_to_rcuwait
    let waited = false;
    for (;;) {
      Atomics.store(v.i32, V.rcuwait, RCUWAIT.INTERRUPTIBLE); // set_current_state(TASK_INTERRUPTIBLE)
      const seen = Atomics.load(v.i32, V.kick);
      if (this.h.checkBlock(this.clock())) break;
      if (!waited) {
        waited = true;
        this.h.setRunState(RUN_STATE.BLOCKED, this.clock());
        sched.release(task); // schedule(): the pCPU goes to the next runnable task, or idles
      }
      futexWait(v.i32, V.kick, seen);
    }
    Atomics.store(v.i32, V.rcuwait, RCUWAIT.NONE); // finish_rcuwait: running, unregistered
    if (waited) {
      this.h.setRunState(RUN_STATE.RUNNABLE, this.clock());
      sched.acquire(task); // scheduled back in: may queue behind other tasks on an overcommitted host
      this.h.scheduledIn();
    }
    switchTimerToVcpu(vcpu);
    Atomics.store(vcpu.s.i32, S.blocking, 0);
    return waited;
  }

  /** update_halt_poll_stats(): success means the vCPU never called schedule(). */
  private updateHaltPollStats(pollNs: number, success: boolean): void {
    const s = this.h.vcpu.s;
    Atomics.add(s.i32, S.attempted, 1);
    if (success) {
      Atomics.add(s.i32, S.successful, 1);
      s.f64[S.successNs] += pollNs;
      this.hist(S.successHist, pollNs);
    } else {
      s.f64[S.failNs] += pollNs;
      this.hist(S.failHist, pollNs);
    }
  }

  /** kvm_stats_log_hist_update() on the histogram whose first bucket is at `base`. */
  private hist(base: number, ns: number): void {
    Atomics.add(this.h.vcpu.s.i32, base + log2HistBucket(ns), 1);
  }
}
