import { region, struct, type RecordOf } from '../../actors/shared-memory.ts';
import { now } from '../../actors/clock.ts';

/**
 * The VMM's deferred-work queue (seeds/000): one producer (the VMM main loop,
 * on its device events), any number of consumers (workqueue threads woken
 * according to the queue depth, idle vCPU threads on their HLT/MWAIT exits,
 * the main loop's fallback timer). A ring of enqueue times; a consumer claims
 * the item at `head` with a compare-and-swap, so each item runs exactly once.
 * Who ran it and how long it waited are counted per consumer kind.
 */

export const WORK_RING = 4096;
/** Who ran an item. */
export const WORK_BY = { WORKER: 0, VCPU: 1, FALLBACK: 2 } as const;
export const WORK_BY_NAMES = ['workers', 'vcpus', 'fallback'] as const;

const WORK_QUEUE_STRUCT = struct(
  [
    'head', // next item to claim
    'tail', // next free slot (written by the producer only)
    'wake', // futex word the idle workqueue threads wait on
    'overflows', // enqueues refused: the ring was full (never expected; an invariant)
    ['done_by', WORK_BY_NAMES.length],
  ],
  [['enqueued_at', WORK_RING]],
);
/** The VMM's one queue. */
export const WORK_QUEUE = region('work_queue', WORK_QUEUE_STRUCT);
export type WorkQueueRecord = RecordOf<typeof WORK_QUEUE>;

export const workDepth = (q: WorkQueueRecord): number => q.load('tail') - q.load('head');

/** Producer: add an item created at `at`. Returns the depth after it, or -1 if the ring was full. */
export function workEnqueue(q: WorkQueueRecord, at: number): number {
  const tail = q.load('tail');
  if (tail - q.load('head') >= WORK_RING) {
    q.add('overflows', 1);
    return -1;
  }
  q.f64[q.F.enqueued_at + (tail % WORK_RING)] = at;
  q.store('tail', tail + 1); // publishes the timestamp
  return tail + 1 - q.load('head');
}

/** Wake this many idle workqueue threads (those not waiting are busy and will look again anyway). */
export function workWakeWorkers(q: WorkQueueRecord, count: number): void {
  if (count > 0) q.wake('wake', count);
}

export const workWakeWord = (q: WorkQueueRecord): number => q.load('wake');

/**
 * Claim the oldest item, or return -1 when the queue is empty. `olderThan`:
 * only an item enqueued before that time (the fallback timer's rule).
 */
export function workClaim(q: WorkQueueRecord, olderThan = Infinity): number {
  for (;;) {
    const head = q.load('head');
    if (head === q.load('tail')) return -1;
    const at = q.f64[q.F.enqueued_at + (head % WORK_RING)];
    if (at >= olderThan) return -1;
    if (q.cas('head', head, head + 1) === head) return at;
  }
}

/**
 * Do one claimed item: real work on this thread for itemNs (the deferred work
 * itself, the VMM's CPU time), counted for its consumer kind. Returns how long
 * the item waited in the queue, for the consumer's own latency histogram.
 */
export function workRun(q: WorkQueueRecord, enqueuedAt: number, itemNs: number, by: number): number {
  const start = now();
  Atomics.add(q.i32, q.I.done_by + by, 1);
  const end = start + itemNs;
  while (now() < end) {
    // busy: the work
  }
  return start - enqueuedAt;
}

/** Run queued items on this thread until the queue is empty or `budgetNs` is spent; returns how many. */
export function workDrain(q: WorkQueueRecord, itemNs: number, by: number, budgetNs: number, waited: (ns: number) => void, olderThan = Infinity): number {
  const until = now() + budgetNs;
  let n = 0;
  for (;;) {
    const at = workClaim(q, olderThan);
    if (at < 0) return n;
    waited(workRun(q, at, itemNs, by));
    n++;
    if (now() >= until) return n;
  }
}

export interface WorkQueueSnapshot {
  created: number;
  done: Record<(typeof WORK_BY_NAMES)[number], number>;
  left: number;
  overflows: number;
}

export function readWorkQueue(q: WorkQueueRecord): WorkQueueSnapshot {
  const done = Object.fromEntries(WORK_BY_NAMES.map((n, i) => [n, Atomics.load(q.i32, q.I.done_by + i)])) as WorkQueueSnapshot['done'];
  return { created: q.load('tail'), done, left: workDepth(q), overflows: q.load('overflows') };
}
