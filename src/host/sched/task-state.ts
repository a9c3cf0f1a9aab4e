import { region, struct, type RecordOf } from '../../actors/shared-memory.ts';

/**
 * The host scheduler's shared state: one record per pCPU (its runqueue) and
 * one per schedulable task (a vCPU thread, later I/O threads). The lock word
 * and the host actor's doorbell live in the single 'host' record.
 */

export const NO_TASK = -1;

export const pcpuStruct = (maxTasks: number) =>
  struct(
    [
      'curr', // task running on this pCPU, or NO_TASK (idle)
      'nr_running', // curr + queued: the runqueue depth single_task_running() reads
      'rq_head',
      'rq_len',
      ['rq', Math.max(1, maxTasks)], // FIFO of queued task ids
      'idle_exits_shallow', // wakeups of this pCPU from each idle state (idle-states.ts)
      'idle_exits_deep',
    ],
    [
      'curr_since', // when curr got the pCPU (for timeslice preemption)
      'busy_ns', // time this pCPU had a task
      'busy_since',
      'idle_since', // when it last went idle; 0 while busy or before its first task
      'idle_shallow_ns', // time idle in each state
      'idle_deep_ns',
      'idle_exit_latency_ns', // exit latency paid by tasks woken onto it
    ],
  );

const TASK_STRUCT = struct(
  [
    'pcpu', // pCPU held, or -1
    'last_pcpu', // where it ran last (wakeup placement prefers it)
    'grant', // futex word: set to 1 when a pCPU is handed to this queued task
    'need_resched', // TIF_NEED_RESCHED: the tick or a wakeup wants this task off its pCPU
    'queued_on', // the pCPU whose runqueue holds it while runnable without a pCPU, or -1
    'preempted', // left its pCPU while still runnable (tick preemption, yield): KVM's vcpu->preempted
    'sched_in', // times it was given a pCPU: a change tells KVM's vcpu_load that it was scheduled out
  ],
  [
    'runnable_wait_ns', // time spent queued, runnable but without a pCPU
    'util', // PELT-like utilisation, 0..1 (pelt.ts), as of util_at
    'util_at', // when util was last brought up to date; 0 before the task first ran
  ],
);
/** One record per schedulable task (a vCPU thread). */
export const TASK = region('task', TASK_STRUCT);
export type TaskRecord = RecordOf<typeof TASK>;

/** One record per pCPU; its runqueue holds up to as many tasks as there are (pcpuStruct(tasks) when laid out). */
export const PCPU = region('pcpu', pcpuStruct(1), false);
export type PcpuRecord = RecordOf<typeof PCPU>;

const HOST_STRUCT = struct(
  [
    'rq_lock', // one lock for all runqueues: critical sections are a few hundred ns
    'doorbell', // futex word the host actor sleeps on
    'expiry_gen', // bumped after next_expiry is published (orders it against timer arming)
    'stop',
    'cpuidle_enabled', // pCPU idle states (idle-states.ts): 1 when exit latencies are paid
  ],
  [
    'next_expiry', // when the host actor will next wake by itself
    'cpuidle_shallow_exit_latency_ns',
    'cpuidle_deep_exit_latency_ns',
    'cpuidle_deep_residency_ns',
  ],
);
/** The host: one record. */
export const HOST = region('host', HOST_STRUCT);
export type HostRecord = RecordOf<typeof HOST>;
