import { serveActor, type ActorStart } from '../actors/actor.ts';
import { setThreadTimerSlackNs } from '../actors/cpu-time.ts';
import { futexWait } from '../actors/futex.ts';
import { SharedMemory } from '../actors/shared-memory.ts';
import type { Tracer } from '../trace/tracer.ts';
import { checkFault, FAULTS, type FaultRecord } from './faults.ts';
import { tracerFor } from './layout.ts';
import { ThreadAccounting, type ThreadCost } from './thread-state.ts';
import { VMM, type VmmRecord } from './vmm/vmm-state.ts';

/**
 * The shell every thread of a VM runs in (the host actor, the vCPU threads,
 * the VMM's I/O threads, bare-metal threads), as piscina's base class is for
 * its workers: the shared memory and the VMM's stop and pause words, the
 * thread's own trace ring, fault word and accounting (thread id, run state,
 * CPU and wall time), a stop check, and the start/loop/stop sequence with the
 * cost added to the snapshot. A thread's module is its setup, its loop and
 * its snapshot; nothing else.
 */

/** How long a sleep may last before its loop looks at the stop word again (a stop also wakes it). */
export const STOP_CHECK_NS = 50_000_000;

export interface VmActorConfig {
  /** The thread's index among the VM's actors: its trace ring, fault word and THREAD record. */
  slot: number;
}

export interface VmActorContext<C extends VmActorConfig> {
  readonly name: string;
  readonly config: C;
  readonly mem: SharedMemory;
  readonly vmm: VmmRecord;
  readonly tracer: Tracer;
  readonly thread: ThreadAccounting;
  readonly fault: FaultRecord;
  /** The VM is stopping: the loop ends. */
  stopping(): boolean;
  /** A loop point: carry out an injected fault; `doing` says where the thread is. */
  checkFault(doing: string): void;
  /** Wait while the VM is paused (QEMU's `stop`), or until it stops. */
  waitWhilePaused(): void;
  /** The thread's timer slack once its run started (null: not known), with preciseTimers asked for. */
  timerSlackNs: number | null;
}

export interface VmActor<S> {
  /** Before the run: what must be up first (a thread pool); the run starts when every actor is ready. */
  ready?(): boolean | Promise<boolean>;
  /** The thread's loop: from the start of the run until the VM stops. */
  loop(): void | Promise<void>;
  /** After the loop, outside the thread's accounted time (shutting down a thread pool). */
  teardown?(): void | Promise<void>;
  /** The thread's own results, valid after its loop ended; the shell adds its cost. */
  snapshot(): S;
}

export interface VmActorOptions {
  /** The run state the thread starts in (thread-state.ts RUN_STATE); null: the thread keeps its record itself (a vCPU). */
  state: number | null;
  /** Lower the thread's timer slack to 1 ns: its timed waits stand for timers that fire on time. */
  preciseTimers?: boolean;
}

export function serveVmActor<C extends VmActorConfig, S>(setup: (ctx: VmActorContext<C>) => VmActor<S>, opts: VmActorOptions): void {
  serveActor((start: ActorStart<C>) => {
    const mem = new SharedMemory(start.sab, start.layout);
    const vmm = mem.record(VMM, 0);
    const fault = mem.record(FAULTS, start.config.slot);
    const ctx: VmActorContext<C> = {
      name: start.name,
      config: start.config,
      mem,
      vmm,
      tracer: tracerFor(mem, start.config.slot),
      thread: new ThreadAccounting(mem, start.config.slot),
      fault,
      stopping: () => vmm.load('stop') !== 0,
      checkFault: (doing) => checkFault(fault, start.name, doing),
      waitWhilePaused: () => {
        while (vmm.load('paused') && !vmm.load('stop')) futexWait(vmm.i32, vmm.I.paused, 1);
      },
      timerSlackNs: null,
    };
    const actor = setup(ctx);
    return {
      ready: () => actor.ready?.() ?? true,
      async run(): Promise<void> {
        if (opts.preciseTimers) ctx.timerSlackNs = setThreadTimerSlackNs(1) ?? null;
        ctx.thread.start(opts.state);
        try {
          await actor.loop();
        } finally {
          ctx.thread.stop();
          await actor.teardown?.();
        }
      },
      snapshot: (): S & ThreadCost => ({ ...actor.snapshot(), ...ctx.thread.cost() }),
    };
  });
}

/** What a VM thread's module serves on the control plane (its Comlink API). */
export interface VmActorApi<S> {
  ready(): boolean | Promise<boolean>;
  run(): Promise<void>;
  snapshot(): S & ThreadCost;
}
