import { now } from '../../actors/clock.ts';
import { FutexMutex, futexWait } from '../../actors/futex.ts';
import type { SharedMemory } from '../../actors/shared-memory.ts';
import { HOST, NO_TASK, PCPU, TASK, type HostRecord, type PcpuRecord, type TaskRecord } from './task-state.ts';
import { EV, NO_TRACE, type Tracer } from '../../trace/tracer.ts';
import { peltAdvance } from './pelt.ts';
import { rqPush, rqRemove, rqShift } from './runqueue.ts';
import type { SchedHooks } from './sched-hooks.ts';
import { IDLE_STATE, idlePeriod, type CpuidleParams } from './idle-states.ts';

/**
 * The host scheduler's runqueues, operated by whichever thread acts, as the
 * kernel's are: a waking task places itself (select_task_rq + enqueue), a task
 * that blocks or yields picks its successor (schedule()), an idle pCPU pulls
 * from the busiest runqueue (newidle balance). The host actor adds what needs a
 * clock of its own: the tick's timeslice preemption.
 *
 * pCPUs are modelled, not pinned: a task "holds" a pCPU, and only holders run
 * guest code or poll, so a scenario with more vCPUs than pCPUs really queues.
 *
 * It knows tasks, not what runs in them: a task's thread may register hooks
 * (preempt notifiers, include/linux/preempt.h) that fire on that thread exactly
 * when the task gets a pCPU and when it loses one.
 */

export class Scheduler {
  readonly pcpus: PcpuRecord[];
  readonly tasks: TaskRecord[];
  readonly host: HostRecord;
  private readonly lock: FutexMutex;
  // Word indices of the pCPU and task records, resolved once: the runqueue code below is hot.
  private readonly P: PcpuRecord['I'];
  private readonly PF: PcpuRecord['F'];
  private readonly T: TaskRecord['I'];
  private readonly TF: TaskRecord['F'];
  private readonly rqCap: number;
  /** The pCPUs' idle states, as the creator wrote them before any thread ran. */
  private readonly cpuidle: CpuidleParams;
  /** This thread's tasks' hooks, by task. */
  private readonly hooks: (SchedHooks | undefined)[] = [];

  constructor(
    mem: SharedMemory,
    private readonly tracer: Tracer = NO_TRACE,
  ) {
    this.pcpus = mem.records(PCPU);
    this.tasks = mem.records(TASK);
    this.host = mem.record(HOST, 0);
    this.lock = new FutexMutex(this.host.i32, this.host.I.rq_lock);
    this.P = this.pcpus[0].I;
    this.PF = this.pcpus[0].F;
    this.T = this.tasks[0].I;
    this.TF = this.tasks[0].F;
    this.rqCap = Math.max(1, this.tasks.length);
    this.cpuidle = {
      enabled: this.host.load('cpuidle_enabled') !== 0,
      shallow_exit_latency_ns: this.host.get('cpuidle_shallow_exit_latency_ns'),
      deep_exit_latency_ns: this.host.get('cpuidle_deep_exit_latency_ns'),
      deep_residency_ns: this.host.get('cpuidle_deep_residency_ns'),
    };
  }

  /** Called once by the creator, before any thread runs (before init()). */
  static setCpuidle(mem: SharedMemory, p: CpuidleParams): void {
    const host = mem.record(HOST, 0);
    host.store('cpuidle_enabled', p.enabled ? 1 : 0);
    host.set('cpuidle_shallow_exit_latency_ns', p.shallow_exit_latency_ns);
    host.set('cpuidle_deep_exit_latency_ns', p.deep_exit_latency_ns);
    host.set('cpuidle_deep_residency_ns', p.deep_residency_ns);
  }

  /** Called once by the creator, before any thread runs. */
  static init(mem: SharedMemory): void {
    const s = new Scheduler(mem);
    for (const p of s.pcpus) p.store('curr', NO_TASK);
    s.tasks.forEach((t, id) => {
      t.store('pcpu', -1);
      t.store('queued_on', -1);
      t.store('last_pcpu', id % s.pcpus.length);
    });
    s.host.set('next_expiry', Infinity);
  }

  /** Register (or with undefined, remove) the preempt notifier of a task that runs on this thread. */
  setSchedHooks(task: number, hooks: SchedHooks | undefined): void {
    this.hooks[task] = hooks;
  }

  /** nr_running of the pCPU: its current task and those queued behind it. Lock-free read. */
  nrRunning(pcpu: number): number {
    return Atomics.load(this.pcpus[pcpu].i32, this.P.nr_running);
  }

  /** single_task_running() for the pCPU: nothing else is runnable there. Lock-free read. */
  singleTaskRunning(pcpu: number): boolean {
    return Atomics.load(this.pcpus[pcpu].i32, this.P.nr_running) <= 1;
  }

  /** The pCPU the task holds, or -1. Lock-free read. */
  cpuOf(task: number): number {
    return Atomics.load(this.tasks[task].i32, this.T.pcpu);
  }

  /** Time the task has spent queued, runnable without a pCPU, ns. */
  runnableWaitNs(task: number): number {
    return this.tasks[task].f64[this.TF.runnable_wait_ns];
  }

  needResched(task: number): boolean {
    return Atomics.load(this.tasks[task].i32, this.T.need_resched) !== 0;
  }

  /**
   * The task's own thread makes it runnable and returns once it holds a pCPU
   * (try_to_wake_up, then waiting to be scheduled in). Placement: the pCPU it
   * last ran on if idle, else any idle pCPU, else the shortest runqueue.
   */
  acquire(task: number): number {
    const t = this.tasks[task];
    this.lock.lock();
    const cpu = this.selectPcpu(Atomics.load(t.i32, this.T.last_pcpu));
    const p = this.pcpus[cpu];
    if (Atomics.load(p.i32, this.P.curr) === NO_TASK) {
      const exitLatency = this.install(cpu, task, now());
      Atomics.store(p.i32, this.P.nr_running, 1);
      this.lock.unlock();
      // The pCPU leaves its idle state before the woken task runs: real delay on the woken thread.
      if (exitLatency > 0) for (const until = now() + exitLatency; now() < until; );
      this.hooks[task]?.in(cpu);
      return cpu;
    }
    Atomics.store(t.i32, this.T.grant, 0);
    this.enqueue(cpu, task);
    Atomics.add(p.i32, this.P.nr_running, 1);
    this.lock.unlock();
    this.wakeHostForTick();
    return this.waitForGrant(task);
  }

  /** The task leaves its pCPU (blocks or exits): schedule() hands it to the next runnable task. */
  release(task: number): void {
    const t = this.tasks[task];
    const cpu = Atomics.load(t.i32, this.T.pcpu);
    if (cpu < 0) return;
    this.lock.lock();
    const p = this.pcpus[cpu];
    Atomics.sub(p.i32, this.P.nr_running, 1);
    this.uninstall(cpu, task, now());
    const next = this.dequeue(cpu) ?? this.pull(cpu);
    if (next !== undefined) this.handOver(cpu, next);
    else p.f64[this.PF.idle_since] = now(); // nothing to run: the pCPU goes idle
    this.lock.unlock();
    this.hooks[task]?.out(false);
  }

  /**
   * sched_yield() or preemption at the tick: if another task waits on this
   * pCPU, go to the back of its queue and hand the pCPU over; else keep it.
   * Returns the pCPU held afterwards.
   */
  yield(task: number): number {
    const t = this.tasks[task];
    Atomics.store(t.i32, this.T.need_resched, 0);
    const cpu = Atomics.load(t.i32, this.T.pcpu);
    this.lock.lock();
    const next = this.dequeue(cpu);
    if (next === undefined) {
      this.lock.unlock();
      return cpu;
    }
    const at = now();
    this.uninstall(cpu, task, at);
    Atomics.store(t.i32, this.T.grant, 0);
    Atomics.store(t.i32, this.T.preempted, 1);
    this.enqueue(cpu, task);
    this.handOver(cpu, next);
    this.lock.unlock();
    this.hooks[task]?.out(true);
    return this.waitForGrant(task);
  }

  /**
   * yield_to(target, preempt=true) (kernel/sched/core.c) from the task holding
   * its pCPU: > 0 when it gave its pCPU to `target`, which was runnable and
   * waiting for one (the caller then waits for a pCPU again: its thread really
   * blocks); 0 when the target runs or is not runnable; -1 (-ESRCH) when both
   * runqueues hold a single task, so yielding is pointless.
   * Simplified: the target moves to this pCPU; Linux makes it the next buddy on
   * its own runqueue and reschedules that CPU.
   */
  yieldTo(task: number, target: number): number {
    const t = this.tasks[task];
    const g = this.tasks[target];
    const cpu = Atomics.load(t.i32, this.T.pcpu);
    if (cpu < 0) throw new Error(`task ${task} yields without holding a pCPU`);
    this.lock.lock();
    const held = Atomics.load(g.i32, this.T.pcpu);
    const queuedOn = Atomics.load(g.i32, this.T.queued_on);
    const targetRq = held >= 0 ? held : queuedOn >= 0 ? queuedOn : Atomics.load(g.i32, this.T.last_pcpu);
    if (Atomics.load(this.pcpus[cpu].i32, this.P.nr_running) === 1 && Atomics.load(this.pcpus[targetRq].i32, this.P.nr_running) === 1) {
      this.lock.unlock();
      return -1;
    }
    // task_on_cpu(p) || !task_is_running(p): nothing to give.
    if (held >= 0 || queuedOn < 0) {
      this.lock.unlock();
      return 0;
    }
    this.remove(queuedOn, target);
    if (queuedOn !== cpu) {
      Atomics.sub(this.pcpus[queuedOn].i32, this.P.nr_running, 1);
      Atomics.add(this.pcpus[cpu].i32, this.P.nr_running, 1);
    }
    Atomics.store(t.i32, this.T.need_resched, 0);
    this.uninstall(cpu, task, now());
    Atomics.store(t.i32, this.T.grant, 0);
    Atomics.store(t.i32, this.T.preempted, 1);
    this.enqueue(cpu, task);
    this.handOver(cpu, target);
    this.lock.unlock();
    this.hooks[task]?.out(true);
    this.waitForGrant(task);
    return 1;
  }

  /** Whether the task waits in a runqueue for a pCPU (runnable, not running). Lock-free read. */
  isQueued(task: number): boolean {
    return Atomics.load(this.tasks[task].i32, this.T.queued_on) >= 0;
  }

  /** Whether the task left its pCPU while still runnable, and has not run since. Lock-free read. */
  wasPreempted(task: number): boolean {
    return Atomics.load(this.tasks[task].i32, this.T.preempted) !== 0;
  }

  /** How many times the task has been given a pCPU. Lock-free read. */
  schedIns(task: number): number {
    return Atomics.load(this.tasks[task].i32, this.T.sched_in);
  }

  /** Tasks whose timeslice ran out while others wait (the tick's check); sets their need_resched. */
  preemptExpired(at: number, sliceNs: number): number[] {
    const victims: number[] = [];
    for (const p of this.pcpus) {
      if (Atomics.load(p.i32, this.P.nr_running) <= 1) continue;
      const curr = Atomics.load(p.i32, this.P.curr);
      if (curr === NO_TASK || at - p.f64[this.PF.curr_since] < sliceNs) continue;
      if (Atomics.exchange(this.tasks[curr].i32, this.T.need_resched, 1) === 0) victims.push(curr);
    }
    return victims;
  }

  /** Whether any pCPU has more than one runnable task (the tick is needed: NO_HZ otherwise). */
  anyOverloaded(): boolean {
    return this.pcpus.some((p) => Atomics.load(p.i32, this.P.nr_running) > 1);
  }

  /** Time each pCPU had a task, ns, up to `at`. */
  busyNs(at: number): number[] {
    return this.pcpus.map((p) => {
      const since = p.f64[this.PF.busy_since];
      return p.f64[this.PF.busy_ns] + (Atomics.load(p.i32, this.P.curr) !== NO_TASK && since > 0 ? at - since : 0);
    });
  }

  /** Per pCPU: time in each idle state and wakeups from each, up to `at` (the current idle period included). */
  idleStates(at: number): { shallow_ns: number; deep_ns: number; exits_shallow: number; exits_deep: number; exit_latency_ns: number }[] {
    return this.pcpus.map((p) => {
      const since = p.f64[this.PF.idle_since];
      const open = since > 0 ? idlePeriod(at - since, this.cpuidle) : { shallow_ns: 0, deep_ns: 0 };
      return {
        shallow_ns: p.f64[this.PF.idle_shallow_ns] + open.shallow_ns,
        deep_ns: p.f64[this.PF.idle_deep_ns] + open.deep_ns,
        exits_shallow: Atomics.load(p.i32, this.P.idle_exits_shallow),
        exits_deep: Atomics.load(p.i32, this.P.idle_exits_deep),
        exit_latency_ns: p.f64[this.PF.idle_exit_latency_ns],
      };
    });
  }

  /** A task's PELT-like utilisation (0..1) as of its last pCPU change. */
  util(task: number): number {
    return this.tasks[task].f64[this.TF.util];
  }

  private selectPcpu(prev: number): number {
    const P = this.P;
    const pcpus = this.pcpus;
    if (Atomics.load(pcpus[prev].i32, P.curr) === NO_TASK) return prev;
    let best = prev;
    let bestLoad = Atomics.load(pcpus[prev].i32, P.nr_running);
    for (let i = 0; i < pcpus.length; i++) {
      const rq = pcpus[i].i32;
      if (Atomics.load(rq, P.curr) === NO_TASK) return i;
      const load = Atomics.load(rq, P.nr_running);
      if (load < bestLoad) {
        best = i;
        bestLoad = load;
      }
    }
    return best;
  }

  /** Put `task` on `cpu`; returns the idle exit latency the task must pay first (0 if the pCPU was not idle). */
  private install(cpu: number, task: number, at: number): number {
    const p = this.pcpus[cpu];
    const t = this.tasks[task];
    this.updateUtil(task, false, at); // it was not running until now
    Atomics.store(p.i32, this.P.curr, task);
    p.f64[this.PF.curr_since] = at;
    p.f64[this.PF.busy_since] = at;
    Atomics.store(t.i32, this.T.pcpu, cpu);
    Atomics.store(t.i32, this.T.last_pcpu, cpu);
    Atomics.store(t.i32, this.T.preempted, 0);
    Atomics.add(t.i32, this.T.sched_in, 1);
    this.tracer.emit(at, EV.PCPU, cpu, task);
    const since = p.f64[this.PF.idle_since];
    if (since <= 0) return 0;
    p.f64[this.PF.idle_since] = 0;
    const idle = idlePeriod(at - since, this.cpuidle);
    p.f64[this.PF.idle_shallow_ns] += idle.shallow_ns;
    p.f64[this.PF.idle_deep_ns] += idle.deep_ns;
    Atomics.add(p.i32, idle.state === IDLE_STATE.DEEP ? this.P.idle_exits_deep : this.P.idle_exits_shallow, 1);
    p.f64[this.PF.idle_exit_latency_ns] += idle.exit_latency_ns;
    // The exit latency is the idle loop's time, not the task's: it starts running after it.
    if (idle.exit_latency_ns > 0) this.updateUtil(task, false, at + idle.exit_latency_ns);
    return idle.exit_latency_ns;
  }

  /** Bring the task's utilisation up to `at`, it having been running (holding a pCPU) or not since the last update. */
  private updateUtil(task: number, running: boolean, at: number): void {
    const f = this.tasks[task].f64;
    if (f[this.TF.util_at] > 0) f[this.TF.util] = peltAdvance(f[this.TF.util], running, at - f[this.TF.util_at]);
    f[this.TF.util_at] = at;
  }

  private uninstall(cpu: number, task: number, at: number): void {
    const p = this.pcpus[cpu];
    p.f64[this.PF.busy_ns] += at - p.f64[this.PF.busy_since];
    this.updateUtil(task, true, at); // it ran until now
    Atomics.store(p.i32, this.P.curr, NO_TASK);
    Atomics.store(this.tasks[task].i32, this.T.pcpu, -1);
    this.tracer.emit(at, EV.PCPU, cpu, -1);
  }

  private handOver(cpu: number, next: number): void {
    this.install(cpu, next, now());
    const t = this.tasks[next];
    Atomics.store(t.i32, this.T.grant, 1);
    Atomics.notify(t.i32, this.T.grant);
  }

  /** Wait, runnable, until another thread hands this task a pCPU; then it is scheduled in. */
  private waitForGrant(task: number): number {
    const t = this.tasks[task];
    const since = now();
    while (Atomics.load(t.i32, this.T.grant) === 0) futexWait(t.i32, this.T.grant, 0);
    t.f64[this.TF.runnable_wait_ns] += now() - since;
    const cpu = Atomics.load(t.i32, this.T.pcpu);
    this.hooks[task]?.in(cpu);
    return cpu;
  }

  private enqueue(cpu: number, task: number): void {
    rqPush(this.pcpus[cpu], this.rqCap, task);
    Atomics.store(this.tasks[task].i32, this.T.queued_on, cpu);
  }

  private dequeue(cpu: number): number | undefined {
    const task = rqShift(this.pcpus[cpu], this.rqCap);
    if (task !== undefined) Atomics.store(this.tasks[task].i32, this.T.queued_on, -1);
    return task;
  }

  /** Take `task` out of the middle of pCPU `cpu`'s FIFO, keeping the others' order. */
  private remove(cpu: number, task: number): void {
    if (!rqRemove(this.pcpus[cpu], this.rqCap, task)) throw new Error(`task ${task} is not queued on pCPU ${cpu}`);
    Atomics.store(this.tasks[task].i32, this.T.queued_on, -1);
  }

  /** newidle balance: take the head of the longest other runqueue; the task migrates here. */
  private pull(cpu: number): number | undefined {
    let busiest = -1;
    for (let i = 0; i < this.pcpus.length; i++) {
      if (i === cpu || this.pcpus[i].i32[this.P.rq_len] === 0) continue;
      if (busiest < 0 || this.pcpus[i].i32[this.P.rq_len] > this.pcpus[busiest].i32[this.P.rq_len]) busiest = i;
    }
    if (busiest < 0) return undefined;
    const task = this.dequeue(busiest)!;
    Atomics.sub(this.pcpus[busiest].i32, this.P.nr_running, 1);
    Atomics.add(this.pcpus[cpu].i32, this.P.nr_running, 1);
    return task;
  }

  /** A runqueue just got a second task: make sure the host actor ticks for preemption. */
  private wakeHostForTick(): void {
    this.host.wake('doorbell');
  }
}
