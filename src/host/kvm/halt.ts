import { futexWait } from '../../actors/futex.ts';
import { EV, type Tracer } from '../../trace/tracer.ts';
import type { Scheduler } from '../sched/scheduler.ts';
import type { HostRecord } from '../sched/task-state.ts';
import { RUN_STATE } from '../thread-state.ts';
import { adjustHaltPollNs, clampHaltPollNs, kvmVcpuMaxHaltPollNs, log2HistBucket, type HaltPollCap, type HaltPollParams } from './halt-poll.ts';
import { sleeperTimeoutNs, sleeperTimerExpire, switchTimerToSleeper, switchTimerToVcpu } from './lapic-timer.ts';
import type { VcpuRecords } from './vcpu-records.ts';
import { RCUWAIT } from './vcpu-state.ts';
import { fixedHaltPollWindow, readHaltPollCap, readHaltPollParams, type KvmRecord } from './vm-state.ts';

/**
 * kvm_vcpu_halt() and kvm_vcpu_block() (virt/kvm/kvm_main.c), on the vCPU
 * thread, step for step as reference §1.3 restates them. The window arithmetic
 * is pure and lives in halt-poll.ts; this file is the part that really polls
 * (a loop on shared memory that burns this thread's core) and really sleeps
 * (Atomics.wait on the vCPU's kick word).
 */

/** What the halt path asks of the host scheduler (sched/scheduler.ts). */
export type HaltSched = Pick<Scheduler, 'cpuOf' | 'singleTaskRunning' | 'needResched' | 'release' | 'acquire'>;

/**
 * What the halt path reads of `struct kvm_vcpu` (KvmVcpu has all of it; a
 * test can give less). The scheduler's hooks tell the vCPU when the blocked
 * thread is back on a pCPU (kvm_sched_in), so this file never loads it.
 */
export interface HaltVcpu extends VcpuRecords {
  readonly task: number;
  readonly sched: HaltSched;
  readonly host: HostRecord;
  readonly kvm: KvmRecord;
  readonly tracer: Tracer;
  readonly haltPollParams: HaltPollParams;
  readonly haltPollCap: HaltPollCap;
  /** kvm_vcpu_check_block() < 0: a wake condition holds at `at` (may fire a due timer first). */
  checkBlock(at: number): boolean;
  /** kvm_arch_no_poll(): the guest has turned host polling off for this vCPU. */
  noPoll(): boolean;
  setRunState(state: number, at: number): void;
  /** ktime_get(): a test passes a fake clock to replay the reference's examples exactly. */
  clock(): number;
  /** The hrtimer of this sleeping vCPU fired its deadline `lateNs` late (statistics and trace). */
  hrtimerFired(at: number, lateNs: number): void;
}

/** kvm_vcpu_max_halt_poll_ns() with the parameters and the cap read now (READ_ONCE, every halt). */
const maxHaltPollNs = (vcpu: HaltVcpu): number => kvmVcpuMaxHaltPollNs(readHaltPollParams(vcpu.kvm, vcpu.haltPollParams), readHaltPollCap(vcpu.kvm, vcpu.haltPollCap));

/** kvm_vcpu_halt(): poll for up to vcpu->halt_poll_ns, then block; account; adapt the window. */
export function kvmVcpuHalt(vcpu: HaltVcpu): void {
  const { sched, task, tracer } = vcpu;
  const v = vcpu.block;
  const s = vcpu.stats;
  s.add('halt_calls', 1);
  // 1. Read the ceiling (params re-read on every halt: a change applies from the next halt).
  let max = maxHaltPollNs(vcpu);
  const allowed = !vcpu.noPoll();
  // 2. Clamp at entry: growing does not clamp, only the next halt does. (Linux 4.0: no window, the ceiling.)
  const fixed = fixedHaltPollWindow(vcpu.kvm);
  const before = v.get('halt_poll_ns');
  const window = fixed ? max : clampHaltPollNs(before, max);
  if (window !== before) {
    v.set('halt_poll_ns', window);
    tracer.emit(vcpu.clock(), EV.HALT_POLL_NS, window);
  }
  // 3. Poll only if allowed and the window is non-zero.
  const doPoll = allowed && window !== 0;
  const start = vcpu.clock();
  let cur = start;
  let pollEnd = start;
  let waited = false;
  let woke = false;
  if (doPoll) {
    // 4. Poll, do-while: the wake condition is checked at least once.
    vcpu.setRunState(RUN_STATE.POLLING, start);
    const stop = start + window;
    const cpu = sched.cpuOf(task);
    do {
      if (vcpu.checkBlock(cur)) {
        woke = true;
        break;
      }
      pollEnd = cur = vcpu.clock();
      // kvm_vcpu_can_poll: single_task_running() && !need_resched() && now < stop
    } while (sched.singleTaskRunning(cpu) && !sched.needResched(task) && cur < stop);
  }
  if (!woke) {
    // 5. Sleep.
    waited = kvmVcpuBlock(vcpu);
    cur = vcpu.clock();
    if (waited) {
      s.addf('halt_wait_ns', cur - pollEnd);
      histUpdate(vcpu, s.I.halt_wait_hist, cur - pollEnd);
    }
  }
  // 6. Account: halt_ns is the whole halt, polling included.
  const haltNs = cur - start;
  if (doPoll) updateHaltPollStats(vcpu, pollEnd - start, !waited);
  // 7. Adapt, only if polling is allowed (and the kernel has an adaptive window).
  if (allowed && !fixed) {
    max = maxHaltPollNs(vcpu);
    const next = adjustHaltPollNs({ halt_poll_ns: window, halt_ns: haltNs, max, valid_wakeup: true }, vcpu.haltPollParams).halt_poll_ns;
    v.set('halt_poll_ns', next);
    if (next !== window) tracer.emit(cur, EV.HALT_POLL_NS, next);
  }
}

/**
 * kvm_vcpu_block(): register on the wait, then loop { mark the kick word read
 * (set_current_state), check, schedule() }. Returns whether it really slept.
 */
export function kvmVcpuBlock(vcpu: HaltVcpu): boolean {
  const { sched, task } = vcpu;
  const v = vcpu.block;
  vcpu.stats.store('blocking', 1);
  switchTimerToSleeper(vcpu, vcpu.host); // kvm_arch_vcpu_blocking: the hrtimer must wake a sleeper
  Atomics.store(v.i32, v.I.rcuwait, RCUWAIT.RUNNING); // prepare_to_rcuwait
  let waited = false;
  for (;;) {
    Atomics.store(v.i32, v.I.rcuwait, RCUWAIT.INTERRUPTIBLE); // set_current_state(TASK_INTERRUPTIBLE)
    const seen = Atomics.load(v.i32, v.I.kick);
    if (vcpu.checkBlock(vcpu.clock())) break;
    if (!waited) {
      waited = true;
      vcpu.setRunState(RUN_STATE.BLOCKED, vcpu.clock());
      sched.release(task); // schedule(): the pCPU goes to the next runnable task, or idles
    }
    // schedule(): until a kick, or until this vCPU's own hrtimer expires; then its callback runs here.
    if (futexWait(v.i32, v.I.kick, seen, sleeperTimeoutNs(v, vcpu.clock())) === 'timed-out') {
      const at = vcpu.clock();
      const late = sleeperTimerExpire(vcpu, at);
      if (late >= 0) vcpu.hrtimerFired(at, late);
    }
  }
  Atomics.store(v.i32, v.I.rcuwait, RCUWAIT.NONE); // finish_rcuwait: running, unregistered
  if (waited) {
    vcpu.setRunState(RUN_STATE.RUNNABLE, vcpu.clock());
    sched.acquire(task); // scheduled back in (kvm_sched_in loads it): may queue behind other tasks on an overcommitted host
  }
  switchTimerToVcpu(vcpu);
  vcpu.stats.store('blocking', 0);
  return waited;
}

/** update_halt_poll_stats(): success means the vCPU never called schedule(). */
function updateHaltPollStats(vcpu: HaltVcpu, pollNs: number, success: boolean): void {
  const s = vcpu.stats;
  s.add('halt_attempted_poll', 1);
  if (success) {
    s.add('halt_successful_poll', 1);
    s.addf('halt_poll_success_ns', pollNs);
    histUpdate(vcpu, s.I.halt_poll_success_hist, pollNs);
  } else {
    s.addf('halt_poll_fail_ns', pollNs);
    histUpdate(vcpu, s.I.halt_poll_fail_hist, pollNs);
  }
}

/** kvm_stats_log_hist_update() on the histogram whose first bucket is at `base`. */
function histUpdate(vcpu: HaltVcpu, base: number, ns: number): void {
  Atomics.add(vcpu.stats.i32, base + log2HistBucket(ns), 1);
}
