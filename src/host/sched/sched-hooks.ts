/**
 * A task's preempt notifier (include/linux/preempt.h): what a thread asks the
 * host scheduler to call when its task gains or loses a pCPU. Called on the
 * task's own thread, never under the runqueue lock; the scheduler knows
 * nothing more of what runs in the task.
 */
export interface SchedHooks {
  /** The task was given pCPU `cpu` (sched_in). */
  in(cpu: number): void;
  /** The task left its pCPU (sched_out): `preempted` if still runnable (a yield, the tick), not if it blocked. */
  out(preempted: boolean): void;
}
