import { now } from '../actors/clock.ts';
import { futexWait } from '../actors/futex.ts';
import { LatencyRecorder, type EncodedLatency } from '../actors/latency-recorder.ts';
import { hostTimerExpire } from './kvm/lapic-timer.ts';
import { smpSendReschedule } from './kvm/kick.ts';
import { vcpuRecords } from './layout.ts';
import { EV } from '../trace/tracer.ts';
import { RUN_STATE } from './thread-state.ts';
import { alarmExpire } from './vmm/alarm.ts';
import { Scheduler } from './sched/scheduler.ts';
import { serveVmActor, type VmActorConfig } from './vm-actor.ts';

/**
 * The host actor: the host kernel's work that belongs to no vCPU thread. It
 * stands for the hrtimer interrupt where a sleeping vCPU's thread cannot
 * (a deadline the lazy tscdeadline proposal re-arms, a VMM halted in
 * userspace: it fires or re-arms and kicks; and the VMM's alarm timers; a
 * vCPU asleep in kvm_vcpu_block is its own hrtimer, lapic-timer.ts) and for the
 * scheduler tick (timeslice preemption, only while some runqueue has a second
 * task: NO_HZ otherwise; the resched IPI goes to the vCPU). It sleeps on its
 * doorbell until the earliest of those, so it costs nothing while there is
 * nothing to do. The scheduler itself knows only tasks; this is where its
 * tick meets KVM's timers.
 */

export interface HostActorConfig extends VmActorConfig {
  vcpus: number;
  /** sched_base_slice_ns: how long a task runs before the tick preempts it for a waiting one. */
  sched_slice_ns: number;
  /** Tick period while preemption is needed (CONFIG_HZ=1000). */
  tick_ns: number;
}

export interface HostActorSnapshot {
  hrtimer_lateness: EncodedLatency;
  timers_fired: number;
  preemptions: number;
  wakeups: number;
  timer_slack_ns: number | null;
  pcpu_busy_ns: number[];
  pcpu_idle: ReturnType<Scheduler['idleStates']>;
}

serveVmActor<HostActorConfig, HostActorSnapshot>(
  (ctx) => {
    const { config: cfg, mem, tracer, checkFault } = ctx;
    const sched = new Scheduler(mem, tracer);
    const host = sched.host;
    const vcpus = Array.from({ length: cfg.vcpus }, (_, i) => vcpuRecords(mem, i));
    const lateness = new LatencyRecorder();
    let timersFired = 0;
    let preemptions = 0;
    let wakeups = 0;
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
      loop(): void {
        let nextTick = Infinity;
        while (!host.load('stop')) {
          const seen = host.load('doorbell');
          checkFault('firing hrtimers and ticking');
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
          host.set('next_expiry', nextTick);
          host.add('expiry_gen', 1);
          let next = nextTick;
          at = now();
          firedAt = at;
          for (const v of vcpus) {
            firing = v.id;
            next = Math.min(next, hostTimerExpire(v, at, onFire), alarmExpire(v, at));
          }
          host.set('next_expiry', next);
          host.add('expiry_gen', 1);
          const timeout = next === Infinity ? undefined : Math.max(0, next - now());
          futexWait(host.i32, host.I.doorbell, seen, timeout);
          wakeups++;
        }
        const t1 = now();
        busy = sched.busyNs(t1);
        idle = sched.idleStates(t1);
      },
      snapshot: () => ({
        hrtimer_lateness: lateness.encode(),
        timers_fired: timersFired,
        preemptions,
        wakeups,
        timer_slack_ns: ctx.timerSlackNs,
        pcpu_busy_ns: busy,
        pcpu_idle: idle,
      }),
    };
  },
  // hrtimers are not subject to timer slack; a timed futex wait is, unless we lower it.
  { state: RUN_STATE.HOST, preciseTimers: true },
);
