import { now } from '../../actors/clock.ts';
import { futexWait } from '../../actors/futex.ts';
import { LatencyRecorder, type EncodedLatency } from '../../actors/latency-recorder.ts';
import { prng } from '../../actors/prng.ts';
import { RUN_STATE } from '../thread-state.ts';
import { serveVmActor, type VmActorConfig } from '../vm-actor.ts';
import { WORK_BY, WORK_QUEUE, workDrain, workEnqueue, workWakeWorkers } from './work-queue.ts';

/**
 * The VMM's main loop in the deferred-work workload (seeds/000): its device
 * events (an eventfd, at random gaps) each create a work item too long to do
 * on the spot, so it goes to the queue, and as many workqueue threads are
 * woken as the depth calls for (one per `depth_per_worker` items). Its
 * fallback timer runs, itself, any item that has waited `fallback_ns`: the
 * "regular timer in your main thread" for when no one else takes the work.
 */

export interface VmmMainConfig extends VmActorConfig {
  gap_ns: number;
  jitter: number;
  seed: number;
  item_ns: number;
  workers: number;
  depth_per_worker: number;
  /** 0: no fallback timer. */
  fallback_ns: number;
}

export interface VmmMainSnapshot {
  created: number;
  fallback_wait: EncodedLatency;
}

serveVmActor<VmmMainConfig, VmmMainSnapshot>(
  ({ config: cfg, mem, vmm, thread, stopping, checkFault }) => {
    const queue = mem.record(WORK_QUEUE, 0);
    const random = prng(cfg.seed);
    const fallbackWait = new LatencyRecorder();
    let created = 0;
    return {
      loop(): void {
        const t0 = now();
        let nextEvent = t0 + cfg.gap_ns * (1 + cfg.jitter * (2 * random() - 1));
        let nextFallback = cfg.fallback_ns > 0 ? t0 + cfg.fallback_ns : Infinity;
        while (!stopping()) {
          checkFault('in its main loop');
          thread.enter(RUN_STATE.BLOCKED);
          // ppoll until the next event or timer; the stop word is the wait word, so stop wakes it.
          for (let t = now(); t < Math.min(nextEvent, nextFallback) && !stopping(); t = now()) {
            futexWait(vmm.i32, vmm.I.stop, 0, Math.min(nextEvent, nextFallback) - t);
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
      },
      snapshot: () => ({ created, fallback_wait: fallbackWait.encode() }),
    };
  },
  { state: RUN_STATE.VMM, preciseTimers: true },
);
