import { futexWait } from '../../actors/futex.ts';
import { LatencyRecorder, type EncodedLatency } from '../../actors/latency-recorder.ts';
import { RUN_STATE } from '../thread-state.ts';
import { serveVmActor, STOP_CHECK_NS, type VmActorConfig } from '../vm-actor.ts';
import { WORK_BY, WORK_QUEUE, workDepth, workDrain, workWakeWord } from './work-queue.ts';

/**
 * A VMM workqueue thread (seeds/000: "The separate threads own the work"):
 * asleep until the main loop wakes it for the queue's depth, then it runs
 * items until the queue is empty and sleeps again.
 */

export interface WorkqueueThreadConfig extends VmActorConfig {
  item_ns: number;
}

export interface WorkqueueThreadSnapshot {
  done: number;
  wait: EncodedLatency;
}

serveVmActor<WorkqueueThreadConfig, WorkqueueThreadSnapshot>(
  ({ config: cfg, mem, thread, stopping, checkFault }) => {
    const queue = mem.record(WORK_QUEUE, 0);
    const wait = new LatencyRecorder();
    let done = 0;
    return {
      loop(): void {
        while (!stopping()) {
          checkFault('in its work loop');
          // Read the wake word before looking at the queue: a wake after the look is not lost.
          const seen = workWakeWord(queue);
          if (workDepth(queue) > 0) {
            thread.enter(RUN_STATE.VMM);
            done += workDrain(queue, cfg.item_ns, WORK_BY.WORKER, Infinity, (ns) => wait.record(ns));
            thread.enter(RUN_STATE.BLOCKED);
            continue;
          }
          futexWait(queue.i32, queue.I.wake, seen, STOP_CHECK_NS);
        }
      },
      snapshot: () => ({ done, wait: wait.encode() }),
    };
  },
  { state: RUN_STATE.BLOCKED },
);
