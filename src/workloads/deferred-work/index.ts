import { z } from 'zod';
import { mergeLatency, summarize } from '../../actors/histogram.ts';
import { deferredWorkGuest } from '../../guest/workloads/deferred-work.ts';
import type { VmmMainConfig, VmmMainSnapshot } from '../../host/vmm/vmm-main.ts';
import { readWorkQueue, WORK_QUEUE } from '../../host/vmm/work-queue.ts';
import type { WorkqueueThreadConfig, WorkqueueThreadSnapshot } from '../../host/vmm/workqueue-thread.ts';
import { defineWorkload } from '../module.ts';

const VMM_MAIN_MODULE = new URL('../../host/vmm/vmm-main.ts', import.meta.url);
const WORKQUEUE_MODULE = new URL('../../host/vmm/workqueue-thread.ts', import.meta.url);

export default defineWorkload({
  schema: z.strictObject({
    kind: z.literal('deferred-work'),
    busy_ns: z.int().min(0).max(1_000_000_000).default(200_000).describe('each vCPU’s guest is busy this long, ns, then idle until its timer fires idle_ns later'),
    idle_ns: z.int().min(1_000).max(1_000_000_000).default(800_000).describe('each vCPU’s guest idles this long after its busy stretch, ns'),
    gap_ns: z.int().min(1_000).max(1_000_000_000).default(100_000).describe('mean gap between the VMM main loop’s device events, each creating one work item, ns'),
    jitter: z.number().min(0).max(1).default(0.5).describe('each gap is uniform in gap_ns * (1 ± jitter)'),
    seed: z.int().default(1).describe('seed of the gaps’ random generator'),
    item_ns: z.int().min(0).max(100_000_000).default(20_000).describe('the CPU one work item takes, ns'),
    workers: z.int().min(0).max(16).default(1).describe('workqueue threads that own the work (0: none)'),
    depth_per_worker: z.int().min(1).max(1000).default(4).describe('one more workqueue thread is woken per this many items queued'),
    fallback_ns: z.int().min(0).max(1_000_000_000).default(10_000_000).describe('the main loop’s fallback timer: it runs items that have waited this long, ns (0: no fallback)'),
    vcpu_budget_ns: z.int().min(0).max(100_000_000).default(200_000).describe('with the userspace-exit proposal: what an idle vCPU may spend on queued work per HLT/MWAIT exit, ns'),
  }),
  summary: 'the VMM’s deferred work: a main loop queues work items, workqueue threads woken by queue depth run them; with the userspace-exit proposal idle vCPUs take them on HLT/MWAIT exits',
  source: 'Woodhouse, "Allow userspace exit on HLT and MWAIT, else yield on MWAIT" (seeds/000)',
  program: (w, kernel) => deferredWorkGuest({ busy_ns: w.busy_ns, idle_ns: w.idle_ns, kernel }),
  // The VMM main loop (iothread0) and its workqueue threads (iothread1..).
  iothreads: (w) => 1 + w.workers,
  vcpuThread: (w) => ({ deferred: { item_ns: w.item_ns, vcpu_budget_ns: w.vcpu_budget_ns } }),
  vmmThreads: (w, { slots }) => ({
    threads: [
      {
        name: 'iothread0',
        module: VMM_MAIN_MODULE,
        config: { gap_ns: w.gap_ns, jitter: w.jitter, seed: w.seed, item_ns: w.item_ns, workers: w.workers, depth_per_worker: w.depth_per_worker, fallback_ns: w.fallback_ns, slot: slots.iothread(0) } satisfies VmmMainConfig,
      },
      ...Array.from({ length: w.workers }, (_, i) => ({
        name: `iothread${i + 1}`,
        module: WORKQUEUE_MODULE,
        config: { item_ns: w.item_ns, slot: slots.iothread(i + 1) } satisfies WorkqueueThreadConfig,
      })),
    ],
  }),
  // Who ran the queue's items and how long they waited for it.
  result: (_w, { mem, wallS, vmm, vcpuSnaps }) => {
    const [main, ...workers] = vmm as [VmmMainSnapshot | undefined, ...(WorkqueueThreadSnapshot | undefined)[]];
    if (!main) return {};
    const q = readWorkQueue(mem.record(WORK_QUEUE, 0));
    const waits = { workers: workers.flatMap((s) => (s ? [s.wait] : [])), vcpus: vcpuSnaps.map((s) => s.deferred_wait), fallback: [main.fallback_wait] };
    return {
      deferred: {
        created: q.created,
        created_per_s: wallS > 0 ? q.created / wallS : 0,
        done: q.done,
        left: q.left,
        overflows: q.overflows,
        wait_ns: {
          all: summarize(mergeLatency([...waits.workers, ...waits.vcpus, ...waits.fallback])),
          workers: summarize(mergeLatency(waits.workers)),
          vcpus: summarize(mergeLatency(waits.vcpus)),
          fallback: summarize(mergeLatency(waits.fallback)),
        },
        vcpu_items: vcpuSnaps.map((s) => s.deferred_done),
      },
    };
  },
});
