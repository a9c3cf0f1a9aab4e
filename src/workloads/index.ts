import type { z } from 'zod';
import type { GuestProgram } from '../guest/isa.ts';
import type { GuestKernel } from '../guest/kernel/idle.ts';
import type { Scenario } from '../scenarios/schema.ts';
import deferredWork from './deferred-work/index.ts';
import dsyncIo from './dsync-io/index.ts';
import hrtimerRearm from './hrtimer-rearm/index.ts';
import idleTick from './idle-tick/index.ts';
import irqWake from './irq-wake/index.ts';
import mixed from './mixed/index.ts';
import type { WorkloadModule } from './module.ts';
import overcommit from './overcommit/index.ts';
import simLoop from './sim-loop/index.ts';
import spinlock from './spinlock/index.ts';
import timerLatency from './timer-latency/index.ts';

/**
 * The workloads, one line each: adding one is its folder and its line here.
 * The order is `haltlab list`'s and the built-in scenarios'.
 */
export const WORKLOADS = {
  'timer-latency': timerLatency,
  'irq-wake': irqWake,
  'deferred-work': deferredWork,
  'sim-loop': simLoop,
  'idle-tick': idleTick,
  'dsync-io': dsyncIo,
  spinlock,
  mixed,
  overcommit,
  'hrtimer-rearm': hrtimerRearm,
} as const;

type Modules = typeof WORKLOADS;
export type WorkloadKind = keyof Modules;
type WorkloadSchemaOf<K extends WorkloadKind> = Modules[K]['schema'];
type AnyWorkloadSchema = WorkloadSchemaOf<WorkloadKind>;

/** Every workload's schema, for the scenario's discriminated union on `kind`. */
export const WORKLOAD_SCHEMAS = Object.values(WORKLOADS).map((m) => m.schema) as unknown as [AnyWorkloadSchema, ...AnyWorkloadSchema[]];

/** A parsed workload of any kind. */
export type AnyWorkload = z.infer<AnyWorkloadSchema>;

/** The module of a parsed workload, its functions taking that workload. */
export function workloadModule<W extends AnyWorkload>(w: W): WorkloadModule<z.ZodObject, W> {
  return WORKLOADS[w.kind] as unknown as WorkloadModule<z.ZodObject, W>;
}

/** The guest program a scenario's vCPUs run: its workload, on its guest kernel's idle loop. */
export function guestProgram({ workload: w, guest: g, host }: Pick<Scenario, 'workload' | 'guest' | 'host'>): GuestProgram {
  // The guest kernel sees the PV features the host advertises in CPUID, and is built for the host's architecture.
  const kernel: GuestKernel = { ...g, arch: host.arch, pv_lazy_tscdeadline: host.proposals.lazy_tscdeadline };
  return workloadModule(w).program(w, kernel);
}

/** The VMM's own threads a workload needs (I/O threads; for deferred-work, the main loop and the workqueue threads). */
export const iothreadsOf = (w: AnyWorkload): number => workloadModule(w).iothreads?.(w) ?? 0;
export type { Cost } from './module.ts';
