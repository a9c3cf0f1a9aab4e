import type { PcpuRecord } from './task-state.ts';

/**
 * A pCPU's runqueue: a FIFO of task ids in its record (rq, rq_head, rq_len),
 * a ring of `cap` slots. Operated under the scheduler's runqueue lock, so
 * plain reads and writes suffice.
 */

/** Queue `task` at the back. */
export function rqPush(p: PcpuRecord, cap: number, task: number): void {
  const w = p.i32;
  const { rq, rq_head, rq_len } = p.I;
  const len = w[rq_len];
  w[rq + ((w[rq_head] + len) % cap)] = task;
  w[rq_len] = len + 1;
}

/** Take the task at the front, or undefined if none waits. */
export function rqShift(p: PcpuRecord, cap: number): number | undefined {
  const w = p.i32;
  const { rq, rq_head, rq_len } = p.I;
  if (w[rq_len] === 0) return undefined;
  const task = w[rq + w[rq_head]];
  w[rq_head] = (w[rq_head] + 1) % cap;
  w[rq_len]--;
  return task;
}

/** Take `task` out of the middle, keeping the others' order; false if it is not queued here. */
export function rqRemove(p: PcpuRecord, cap: number, task: number): boolean {
  const w = p.i32;
  const { rq, rq_head, rq_len } = p.I;
  const len = w[rq_len];
  const head = w[rq_head];
  const at = (i: number) => rq + ((head + i) % cap);
  let k = 0;
  while (k < len && w[at(k)] !== task) k++;
  if (k === len) return false;
  for (let i = k; i < len - 1; i++) w[at(i)] = w[at(i + 1)];
  w[rq_len] = len - 1;
  return true;
}
