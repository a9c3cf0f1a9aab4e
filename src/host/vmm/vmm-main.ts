import { serveActor, type ActorStart } from '../../actors/actor.ts';
import { now } from '../../actors/clock.ts';
import { setThreadTimerSlackNs } from '../../actors/cpu-time.ts';
import { futexWait } from '../../actors/futex.ts';
import { LatencyRecorder, type EncodedLatency } from '../../actors/histogram.ts';
import { prng } from '../../actors/prng.ts';
import { SharedMemory } from '../../actors/shared-memory.ts';
import { RUN_STATE } from '../kvm/vcpu-state.ts';
import { VM_I } from '../layout.ts';
import { checkFault, FAULTS_REGION } from '../faults.ts';
import { ThreadAccounting, type ThreadCost } from '../thread-state.ts';
import { WORK_BY, WORK_QUEUE_REGION, workDrain, workEnqueue, workWakeWorkers } from './work-queue.ts';

/**
 * The VMM's main loop in the deferred-work workload (seeds/000): its device
 * events (an eventfd, at random gaps) each create a work item too long to do
 * on the spot, so it goes to the queue, and as many workqueue threads are
 * woken as the depth calls for (one per `depth_per_worker` items). Its
 * fallback timer runs, itself, any item that has waited `fallback_ns`: the
 * "regular timer in your main thread" for when no one else takes the work.
 */

export interface VmmMainConfig {
  gap_ns: number;
  jitter: number;
  seed: number;
  item_ns: number;
  workers: number;
  depth_per_worker: number;
  /** 0: no fallback timer. */
  fallback_ns: number;
  slot: number;
}

export interface VmmMainSnapshot extends ThreadCost {
  created: number;
  fallback_wait: EncodedLatency;
}

export type VmmMainApi = ReturnType<typeof makeVmmMain>;

function makeVmmMain(start: ActorStart<VmmMainConfig>) {
  const mem = new SharedMemory(start.sab, start.layout);
  const cfg = start.config;
  const vmm = mem.record('vmm', 0);
  const queue = mem.record(WORK_QUEUE_REGION, 0);
  const thread = new ThreadAccounting(mem, cfg.slot);
  const fault = mem.record(FAULTS_REGION, cfg.slot);
  const random = prng(cfg.seed);
  const fallbackWait = new LatencyRecorder();
  let created = 0;
  const stopping = () => Atomics.load(vmm.i32, VM_I.stop) !== 0;

  return {
    ready: () => true,
    run(): void {
      setThreadTimerSlackNs(1);
      const t0 = thread.start(RUN_STATE.VMM);
      let nextEvent = t0 + cfg.gap_ns * (1 + cfg.jitter * (2 * random() - 1));
      let nextFallback = cfg.fallback_ns > 0 ? t0 + cfg.fallback_ns : Infinity;
      while (!stopping()) {
        checkFault(fault, start.name, 'in its main loop');
        thread.enter(RUN_STATE.BLOCKED);
        // ppoll until the next event or timer; the stop word is the wait word, so stop wakes it.
        for (let t = now(); t < Math.min(nextEvent, nextFallback) && !stopping(); t = now()) {
          futexWait(vmm.i32, VM_I.stop, 0, Math.min(nextEvent, nextFallback) - t);
        }
        if (stopping()) break;
        const at = now();
        thread.enter(RUN_STATE.VMM, at);
        if (at >= nextEvent) {
          const depth = workEnqueue(queue, at);
          if (depth > 0) {
            created++;
            workWakeWorkers(queue, Math.min(cfg.workers, Math.ceil(depth / cfg.depth_per_worker)));
          }
          nextEvent = at + cfg.gap_ns * (1 + cfg.jitter * (2 * random() - 1));
        }
        if (at >= nextFallback) {
          // Only what has waited a whole period: the rest is someone else's to take.
          workDrain(queue, cfg.item_ns, WORK_BY.FALLBACK, Infinity, (ns) => fallbackWait.record(ns), at - cfg.fallback_ns);
          nextFallback = now() + cfg.fallback_ns;
        }
      }
      thread.stop();
    },
    snapshot(): VmmMainSnapshot {
      return { created, fallback_wait: fallbackWait.encode(), ...thread.cost() };
    },
  };
}

serveActor(makeVmmMain);
