import { freemem } from 'node:os';
import { Ring } from '../actors/ring.ts';
import { ScenarioError, MAX_VCPUS, type Scenario } from '../scenarios/schema.ts';
import { iothreadsOf } from '../workloads/index.ts';
import { TRACE_RING_CAPACITY, TRACE_WIDTH } from '../trace/tracer.ts';

/**
 * Configurations that cannot run are refused before any thread starts. Every
 * actor is a Node worker with its own V8 isolate: measured on Node 20, about
 * 33-46 MB of RSS each (64 vCPUs: 2.1-2.9 GB), so the estimate takes 48 MB.
 */
export const RSS_PER_ACTOR_BYTES = 48 * 2 ** 20;

export function estimateRssBytes(s: Scenario, trace: boolean): number {
  const actors = 1 + s.vm.vcpus + iothreadsOf(s.workload);
  return 100 * 2 ** 20 + actors * (RSS_PER_ACTOR_BYTES + (trace ? Ring.byteLength(TRACE_RING_CAPACITY, TRACE_WIDTH) : 0));
}

export function checkLimits(s: Scenario, opts: { trace?: boolean; freeBytes?: number } = {}): void {
  if (s.vm.vcpus > MAX_VCPUS) throw new ScenarioError([`vm.vcpus: at most ${MAX_VCPUS}, got ${s.vm.vcpus}`], 'limits', 'cannot run');
  const need = estimateRssBytes(s, opts.trace ?? false);
  const free = opts.freeBytes ?? freemem();
  if (need > 0.9 * free) {
    const gb = (b: number) => (b / 2 ** 30).toFixed(1);
    throw new ScenarioError(
      [`this run needs about ${gb(need)} GB of memory (${s.vm.vcpus} vCPU threads and the rest at ~${RSS_PER_ACTOR_BYTES / 2 ** 20} MB each) but ${gb(free)} GB is free: use fewer vCPUs`],
      'limits',
      'cannot run',
    );
  }
}
