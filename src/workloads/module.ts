import type { z } from 'zod';
import type { SharedMemory } from '../actors/shared-memory.ts';
import type { GuestProgram } from '../guest/isa.ts';
import type { GuestKernel } from '../guest/kernel/idle.ts';
import type { ActorSlots } from '../host/actor-slots.ts';
import type { KvmRecord } from '../host/kvm/vm-state.ts';
import type { RunResult, VcpuResult } from '../host/results.ts';
import type { ThreadCost } from '../host/thread-state.ts';
import type { VmActorConfig } from '../host/vm-actor.ts';
import type { AioPollParams } from '../host/vmm/aio-poll.ts';
import type { VcpuThreadConfig, VcpuThreadSnapshot } from '../host/vmm/vcpu-thread.ts';

/**
 * A workload as one module (a Firecracker device is one folder and one
 * `attach_*`): its scenario fields, its guest program, what its VMM asks of
 * KVM, the VMM threads it runs beside the vCPUs, and its section of the
 * results. The VM (host/vm/) knows workloads only through this interface, and
 * the registry (index.ts) lists them, one line each.
 */

/** A VM thread's snapshot, with what the actor shell adds: its cost. */
export type Cost<S> = S & ThreadCost;

/** One VMM thread to start: its module (a serveVmActor file), its name and its start config. */
export interface VmmThreadSpec {
  name: string;
  module: URL;
  config: VmActorConfig & { [key: string]: unknown };
}

/** What a workload's VMM threads are started with. */
export interface VmmContext {
  vcpus: number;
  slots: ActorSlots;
  /** `-object iothread` polling properties (scenario.vmm.iothread). */
  iothread: AioPollParams;
}

/** The VMM threads of one run, and what to release once they are gone (a backend file). */
export interface VmmDevices {
  threads: VmmThreadSpec[];
  release?(): void;
}

/** What a workload's result section is computed from. */
export interface CollectContext {
  mem: SharedMemory;
  wallS: number;
  /** The vCPUs' results, and the snapshots of the vCPU threads that answered. */
  vcpus: VcpuResult[];
  vcpuSnaps: Cost<VcpuThreadSnapshot>[];
  /** Snapshots of this workload's VMM threads, in the order vmmThreads() gave them (undefined: lost). */
  vmm: (Cost<unknown> | undefined)[];
  iothread: AioPollParams;
}

/** A result section: the workload's own keys, and what it adds to the host's. */
export type ResultSection = Partial<Pick<RunResult, 'spinlock' | 'sim' | 'deferred' | 'block'>> & { host?: Partial<RunResult['host']> };

export interface WorkloadModule<S extends z.ZodObject = z.ZodObject, W = z.infer<S>> {
  /** The scenario's workload fields (a strict object with its `kind` literal, every field described). */
  readonly schema: S;
  /** One line each for `haltlab list`: what it shows, and where it comes from. */
  readonly summary: string;
  readonly source: string;
  /** Where its built-in scenario departs from the schema's defaults. */
  readonly builtin?: Record<string, unknown>;
  /** The guest program every vCPU runs, on the guest kernel's idle loop. */
  program(w: W, kernel: GuestKernel): GuestProgram;
  /** The VMM's own threads beside the vCPUs (I/O threads, a main loop, workqueue threads). */
  iothreads?(w: W): number;
  /** The VMM asks KVM to return when the vCPU would block (the simulator's exit on idle). */
  exitOnIdle?(w: W): boolean;
  /** VM ioctls the workload's devices need, before KVM_CREATE_VCPU (irqfds, ioeventfds). */
  setUpVm?(kvm: KvmRecord, w: W, vcpus: number): void;
  /** What each vCPU thread does besides KVM_RUN. */
  vcpuThread?(w: W): Partial<Pick<VcpuThreadConfig, 'deferred' | 'sim'>>;
  /** The VMM threads to start (spawned after the host actor and the vCPU threads). */
  vmmThreads?(w: W, ctx: VmmContext): VmmDevices;
  /** Its section of the results. */
  result?(w: W, ctx: CollectContext): ResultSection;
  /** Runs without a VM (dsync-io's bare-metal baseline: host/vm/bare-metal-run.ts). */
  withoutVm?(w: W): boolean;
}

/** Declare a workload: the module's functions get the workload's own parsed fields. */
export const defineWorkload = <S extends z.ZodObject>(m: WorkloadModule<S>): WorkloadModule<S> => m;
