import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { actorBundle } from '../../src/actors/bundle.ts';
import { allocateVm } from '../../src/host/layout.ts';
import { now } from '../../src/actors/clock.ts';
import { Scheduler } from '../../src/host/sched/scheduler.ts';
import { pcpuStruct } from '../../src/host/sched/task-state.ts';

// The host scheduler's yield_to(): pointless (-ESRCH), impossible (0), or a real hand-over of the
// pCPU to a queued task, after which the yielder really waits for a pCPU again.

const NR_RUNNING = pcpuStruct(1).i32.index.nr_running;
const TARGET = actorBundle(new URL('./fixtures/yield-target.ts', import.meta.url));

describe('Scheduler.yieldTo', () => {
  it('returns -1 when both runqueues hold one task, 0 when the target runs or sleeps', () => {
    const mem = allocateVm({ vcpus: 3, pcpus: 2, actors: 4 });
    const sched = new Scheduler(mem);
    expect(sched.acquire(0)).toBe(0);
    // Task 1 sleeps on an empty runqueue (its last pCPU, 1): not -ESRCH (that needs both at exactly 1), but not runnable.
    expect(sched.yieldTo(0, 1)).toBe(0);
    expect(sched.acquire(1)).toBe(1);
    // Both pCPUs run one task each: pointless.
    expect(sched.yieldTo(0, 1)).toBe(-1);
    // Task 2 sleeps; its runqueue is ours (last pCPU 0), which holds only us.
    expect(sched.yieldTo(0, 2)).toBe(-1);
    Atomics.store(sched.pcpus[0].i32, NR_RUNNING, 2); // pretend a second task is runnable on pCPU 0
    expect(sched.yieldTo(0, 1)).toBe(0); // on a CPU
    expect(sched.yieldTo(0, 2)).toBe(0); // not runnable
    expect(sched.cpuOf(0)).toBe(0); // nothing moved
  });

  it('hands its pCPU to a queued target and gets it back when the target blocks', async () => {
    const mem = allocateVm({ vcpus: 2, pcpus: 1, actors: 3 });
    const sched = new Scheduler(mem);
    expect(sched.acquire(0)).toBe(0);
    expect(sched.schedIns(0)).toBe(1);
    const w = new Worker(TARGET, { workerData: { sab: mem.sab, layout: mem.layout, task: 1 } });
    const exited = new Promise((resolve, reject) => w.once('exit', resolve).once('error', reject));
    while (!sched.isQueued(1)) await new Promise((r) => setTimeout(r, 5));
    expect(sched.singleTaskRunning(0)).toBe(false);
    let waited = false;
    // The yielder's preempt notifier hears it lose the pCPU before it waits for one again.
    sched.setSchedHooks(0, { in: () => {}, out: () => (waited = true) });
    expect(sched.yieldTo(0, 1)).toBe(1);
    await exited;
    expect(waited).toBe(true);
    // We hold the pCPU again, after a real wait; the target ran once and sleeps.
    expect(sched.cpuOf(0)).toBe(0);
    expect(sched.schedIns(0)).toBe(2);
    expect(sched.schedIns(1)).toBe(1);
    expect(sched.isQueued(0) || sched.isQueued(1)).toBe(false);
    expect(sched.wasPreempted(0)).toBe(false);
    expect(sched.singleTaskRunning(0)).toBe(true);
    // The pCPU was handed over both ways, never idle: no idle time, no idle exit (pelt/idle-states accounting).
    const idle = sched.idleStates(now())[0];
    expect(idle.exits_shallow + idle.exits_deep).toBe(0);
    expect(idle.shallow_ns + idle.deep_ns).toBe(0);
    expect(sched.util(0)).toBeGreaterThan(0);
  });
});
