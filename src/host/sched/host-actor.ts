import { getHeapStatistics } from 'node:v8';
import { serveActor } from '../../actors/actor.ts';
import { now } from '../../actors/clock.ts';
import { setThreadTimerSlackNs, threadCpuNs } from '../../actors/cpu-time.ts';
import { futexWait } from '../../actors/futex.ts';
import { LatencyRecorder, type EncodedLatency } from '../../actors/histogram.ts';
import { SharedMemory } from '../../actors/shared-memory.ts';
import { hostTimerExpire } from '../kvm/lapic-timer.ts';
import { smpSendReschedule } from '../kvm/kick.ts';
import { tracerFor, vcpuShared } from '../layout.ts';
import { EV } from '../../trace/tracer.ts';
import { publishThreadId, THREAD_REGION } from '../thread-state.ts';
import { alarmExpire } from '../vmm/alarm.ts';
import { checkFault, FAULTS_REGION } from '../faults.ts';
import { Scheduler } from './scheduler.ts';
import { H, HF } from './task-state.ts';

/**
 * The host actor: the host kernel's work that belongs to no vCPU thread. It
 * stands for the hrtimer interrupt of an idle pCPU (firing the deadline timers
 * of sleeping vCPUs and kicking them) and for the scheduler tick (timeslice
 * preemption, only while some runqueue has a second task: NO_HZ otherwise).
 * It sleeps on its doorbell until the earliest of those, so it costs nothing
 * while there is nothing to do.
 */

export interface HostActorConfig {
  vcpus: number;
  /** sched_base_slice_ns: how long a task runs before the tick preempts it for a waiting one. */
  sched_slice_ns: number;
  /** Tick period while preemption is needed (CONFIG_HZ=1000). */
  tick_ns: number;
  /** This thread's index among the VM's actors: its trace ring and its fault word. */
  slot: number;
}

export interface HostActorSnapshot {
  hrtimer_lateness: EncodedLatency;
  timers_fired: number;
  preemptions: number;
  wakeups: number;
  thread_cpu_ns: number;
  /** V8 heap in use by this thread's isolate, bytes. */
  heap_used_bytes: number;
  wall_ns: number;
  timer_slack_ns: number | null;
  pcpu_busy_ns: number[];
  pcpu_idle: ReturnType<Scheduler['idleStates']>;
}

export type HostActorApi = ReturnType<typeof makeHostActor>;

function makeHostActor(start: { sab: SharedArrayBuffer; layout: SharedMemory['layout']; config: HostActorConfig }) {
  const mem = new SharedMemory(start.sab, start.layout);
  const cfg = start.config;
  const tracer = tracerFor(mem, cfg.slot);
  const fault = mem.record(FAULTS_REGION, cfg.slot);
  const sched = new Scheduler(mem, tracer);
  const host = sched.host;
  const vcpus = Array.from({ length: cfg.vcpus }, (_, i) => vcpuShared(mem, i));
  const lateness = new LatencyRecorder();
  let timersFired = 0;
  let preemptions = 0;
  let wakeups = 0;
  let cpuNs = 0;
  let wallNs = 0;
  let slack: number | undefined;
  let busy: number[] = [];
  let idle: ReturnType<Scheduler['idleStates']> = [];
  let firing = 0; // the vCPU whose timer hostTimerExpire is looking at
  let firedAt = 0;
  const onFire = (late: number) => {
    timersFired++;
    lateness.record(late);
    tracer.emit(firedAt, EV.TIMER, firing, late);
  };

  return {
    ready: () => true,
    run(): void {
      // hrtimers are not subject to timer slack; a timed futex wait is, unless we lower it.
      slack = setThreadTimerSlackNs(1);
      publishThreadId(mem.record(THREAD_REGION, cfg.slot));
      const cpu0 = threadCpuNs();
      const t0 = now();
      let nextTick = Infinity;
      while (!Atomics.load(host.i32, H.stop)) {
        const seen = Atomics.load(host.i32, H.doorbell);
        checkFault(fault, 'host', 'firing hrtimers and ticking');
        let at = now();
        // The tick: preempt tasks whose slice is over while others wait.
        if (sched.anyOverloaded()) {
          if (at >= nextTick || nextTick === Infinity) {
            for (const task of sched.preemptExpired(at, cfg.sched_slice_ns)) {
              preemptions++;
              tracer.emit(at, EV.PREEMPT, task);
              smpSendReschedule(vcpus[task]);
            }
            nextTick = at + cfg.tick_ns;
          }
        } else nextTick = Infinity;
        // Publish when we plan to wake, then scan the timers we own (Dekker with switchTimerToHost).
        host.f64[HF.next_expiry] = nextTick;
        Atomics.add(host.i32, H.expiry_gen, 1);
        let next = nextTick;
        at = now();
        firedAt = at;
        for (const v of vcpus) {
          firing = v.id;
          next = Math.min(next, hostTimerExpire(v, at, onFire), alarmExpire(v, at));
        }
        host.f64[HF.next_expiry] = next;
        Atomics.add(host.i32, H.expiry_gen, 1);
        const timeout = next === Infinity ? undefined : Math.max(0, next - now());
        futexWait(host.i32, H.doorbell, seen, timeout);
        wakeups++;
      }
      const t1 = now();
      wallNs = t1 - t0;
      cpuNs = threadCpuNs() - cpu0;
      busy = sched.busyNs(t1);
      idle = sched.idleStates(t1);
    },
    snapshot(): HostActorSnapshot {
      return {
        hrtimer_lateness: lateness.encode(),
        timers_fired: timersFired,
        preemptions,
        wakeups,
        thread_cpu_ns: cpuNs,
        heap_used_bytes: getHeapStatistics().used_heap_size,
        wall_ns: wallNs,
        timer_slack_ns: slack ?? null,
        pcpu_busy_ns: busy,
        pcpu_idle: idle,
      };
    },
  };
}

serveActor(makeHostActor);
