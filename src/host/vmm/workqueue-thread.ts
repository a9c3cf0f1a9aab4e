import { serveActor, type ActorStart } from '../../actors/actor.ts';
import { futexWait } from '../../actors/futex.ts';
import { LatencyRecorder, type EncodedLatency } from '../../actors/histogram.ts';
import { SharedMemory } from '../../actors/shared-memory.ts';
import { RUN_STATE } from '../kvm/vcpu-state.ts';
import { VM_I } from '../layout.ts';
import { checkFault, FAULTS_REGION } from '../faults.ts';
import { ThreadAccounting, type ThreadCost } from '../thread-state.ts';
import { WORK_BY, WORK_QUEUE_REGION, WORK_WAKE_INDEX, workDepth, workDrain, workWakeWord } from './work-queue.ts';

/**
 * A VMM workqueue thread (seeds/000: "The separate threads own the work"):
 * asleep until the main loop wakes it for the queue's depth, then it runs
 * items until the queue is empty and sleeps again.
 */

export interface WorkqueueThreadConfig {
  item_ns: number;
  slot: number;
}

export interface WorkqueueThreadSnapshot extends ThreadCost {
  done: number;
  wait: EncodedLatency;
}

export type WorkqueueThreadApi = ReturnType<typeof makeWorkqueueThread>;

/** How long a sleep may last before the loop looks at the stop word again. */
const STOP_CHECK_NS = 50_000_000;

function makeWorkqueueThread(start: ActorStart<WorkqueueThreadConfig>) {
  const mem = new SharedMemory(start.sab, start.layout);
  const cfg = start.config;
  const vmm = mem.record('vmm', 0);
  const queue = mem.record(WORK_QUEUE_REGION, 0);
  const thread = new ThreadAccounting(mem, cfg.slot);
  const fault = mem.record(FAULTS_REGION, cfg.slot);
  const wait = new LatencyRecorder();
  let done = 0;

  return {
    ready: () => true,
    run(): void {
      thread.start(RUN_STATE.BLOCKED);
      while (Atomics.load(vmm.i32, VM_I.stop) === 0) {
        checkFault(fault, start.name, 'in its work loop');
        // Read the wake word before looking at the queue: a wake after the look is not lost.
        const seen = workWakeWord(queue);
        if (workDepth(queue) > 0) {
          thread.enter(RUN_STATE.VMM);
          done += workDrain(queue, cfg.item_ns, WORK_BY.WORKER, Infinity, (ns) => wait.record(ns));
          thread.enter(RUN_STATE.BLOCKED);
          continue;
        }
        futexWait(queue.i32, WORK_WAKE_INDEX, seen, STOP_CHECK_NS);
      }
      thread.stop();
    },
    snapshot(): WorkqueueThreadSnapshot {
      return { done, wait: wait.encode(), ...thread.cost() };
    },
  };
}

serveActor(makeWorkqueueThread);
