import { spawnActor, type Actor } from '../../actors/actor.ts';
import { now } from '../../actors/clock.ts';
import { supervise, type RunOutcome } from '../../actors/supervisor.ts';
import { guestProgram, workloadModule, type Cost } from '../../workloads/index.ts';
import type { FaultSpec } from '../faults.ts';
import type { HostActorConfig, HostActorSnapshot } from '../host-actor.ts';
import type { RunResult } from '../results.ts';
import type { VmActorApi } from '../vm-actor.ts';
import type { VcpuThreadConfig, VcpuThreadSnapshot } from '../vmm/vcpu-thread.ts';
import type { BuiltVm } from './build.ts';
import { collectResults } from './collect.ts';

/**
 * One run of a built VM: start the host actor, one thread per vCPU and the
 * workload's VMM threads; supervise them for the scenario's duration (or until
 * a stop, a failure or an abort); take every thread's snapshot; end them all;
 * collect the results, partial or not.
 */

const HOST_MODULE = new URL('../host-actor.ts', import.meta.url);
const VCPU_MODULE = new URL('../vmm/vcpu-thread.ts', import.meta.url);
const TICK_NS = 1_000_000;

export interface RunOptions {
  /** Abort to stop early; the results so far are returned with status "interrupted". */
  signal?: AbortSignal;
  /** Override the scenario's duration (ms). */
  durationMs?: number;
  /** Faults to inject (testing that a run stops cleanly and keeps its results). */
  faults?: FaultSpec[];
}

/** What the run asks of the VM it runs (vm.ts's Vm): its control plane. */
export interface RunControl {
  requestStop(): void;
  doing(actor: string): string;
  inject(f: FaultSpec, actors: Actor<unknown>[], warnings: string[]): void;
  /** The actors are all ready and run from `t0`; the run ended at `t1`. */
  started(t0: number): void;
  ended(span: { t0: number; t1: number }): void;
}

export async function runVm(vm: BuiltVm, control: RunControl, opts: RunOptions): Promise<RunResult> {
  const { scenario, mem, slots, collector } = vm;
  const w = scenario.workload;
  const module = workloadModule(w);
  const faultWarnings: string[] = [];
  const startedAt = new Date().toISOString();
  const spawnedAt = now();
  const base = { sab: mem.sab, layout: mem.layout };
  const hostCfg: HostActorConfig = { vcpus: scenario.vm.vcpus, sched_slice_ns: scenario.host.sched_slice_ns, tick_ns: TICK_NS, slot: slots.host };
  const program = guestProgram(scenario);
  const extras = { deferred: null, sim: null, ...module.vcpuThread?.(w) };
  const hostActor = spawnActor<VmActorApi<HostActorSnapshot>>(HOST_MODULE, { ...base, name: 'host', config: hostCfg });
  const vcpus = Array.from({ length: scenario.vm.vcpus }, (_, id) =>
    spawnActor<VmActorApi<VcpuThreadSnapshot>>(VCPU_MODULE, {
      ...base,
      name: `vcpu${id}`,
      config: { id, program, ple: scenario.host.kvm_intel, slot: slots.vcpu(id), userspace_exits: vm.userspaceExits, ...extras } satisfies VcpuThreadConfig,
    }),
  );
  const devices = module.vmmThreads?.(w, { vcpus: scenario.vm.vcpus, slots, iothread: scenario.vmm.iothread }) ?? { threads: [] };
  try {
    const vmmThreads = devices.threads.map((t) => spawnActor<VmActorApi<unknown>>(t.module, { ...base, name: t.name, config: t.config }));
    const actors: Actor<VmActorApi<unknown>>[] = [hostActor, ...vcpus, ...vmmThreads];
    let outcome: RunOutcome;
    let t0 = now();
    let t1 = t0;
    // The main thread is idle during a run: it drains the trace rings, often enough that they do
    // not fill (16384 events each; a busy vCPU records ~300000/s) and rarely enough not to compete.
    const draining = collector ? setInterval(() => collector.drain(), 20) : undefined;
    try {
      await Promise.all(actors.map((a) => a.call(a.api.ready())));
      t0 = now();
      control.started(t0);
      const faultTimers = (opts.faults ?? []).map((f) => setTimeout(() => control.inject(f, actors, faultWarnings), f.at_s * 1000));
      outcome = await supervise(actors, {
        durationMs: opts.durationMs ?? scenario.duration_s * 1000,
        requestStop: () => control.requestStop(),
        signal: opts.signal,
        doing: (a) => control.doing(a),
      });
      t1 = now();
      faultTimers.forEach(clearTimeout);
    } catch (e) {
      // A failure before the run started (an actor that did not come up).
      control.requestStop();
      t1 = now();
      outcome = {
        status: 'failed',
        failure: failureOf(e),
        stuck: actors.map((a) => a.name), // in an unknown state: do not wait long for their results
      };
    }
    const { snap, lost } = snapshotter(new Set(outcome.stuck ?? []));
    // An actor answers once its loop has ended, so it is ended as soon as it has answered: with
    // 256 threads, their ends overlap the others' snapshots instead of following them all.
    const ends: Promise<void>[] = [];
    const snapThenEnd = async <T>(a: Actor<{ snapshot(): T }>): Promise<T | undefined> => {
      const got = await snap<T>(a);
      ends.push(a.terminate());
      return got;
    };
    const hostSnap = await snapThenEnd<Cost<HostActorSnapshot>>(hostActor);
    const vcpuSnaps = await Promise.all(vcpus.map((a) => snapThenEnd<Cost<VcpuThreadSnapshot>>(a)));
    const vmmSnaps = [];
    for (const a of vmmThreads) vmmSnaps.push({ name: a.name, snap: await snapThenEnd<Cost<unknown>>(a) });
    await Promise.all(ends);
    clearInterval(draining);
    collector?.drain();
    control.ended({ t0, t1 });
    const result = collectResults(vm, startedAt, outcome, (t1 - t0) / 1e9, { host: hostSnap, vcpus: vcpuSnaps, vmm: vmmSnaps });
    result.warnings.unshift(...faultWarnings, ...lost);
    result.phases = { startup_s: (t0 - spawnedAt) / 1e9, teardown_s: (now() - t1) / 1e9 };
    return result;
  } finally {
    devices.release?.();
  }
}

/**
 * An actor whose loop ended answers, however long its thread waits for a core
 * (with 256 threads on 2 cores, seconds); a dead one rejects at once. Only one
 * that never left its loop (`stuck`: hung) gets a short timeout.
 */
function snapshotter(stuck: Set<string>) {
  const lost: string[] = [];
  const snap = async <T>(a: Actor<{ snapshot(): T }>): Promise<T | undefined> => {
    const t = now();
    try {
      const got = await Promise.race([
        a.call(Promise.resolve(a.api.snapshot() as Promise<T>)),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), stuck.has(a.name) ? 2000 : 120_000).unref()),
      ]);
      if (got === undefined) lost.push(`${a.name} did not answer for its results within ${((now() - t) / 1e6).toFixed(0)} ms`);
      return got;
    } catch (e) {
      lost.push(`${a.name}'s results are lost: ${(e as Error).message}`);
      return undefined; // a dead actor's results are lost; the others are kept
    }
  };
  return { snap, lost };
}

/** A failure before the run started, as the actor runtime reported it (an ActorError names its actor). */
export function failureOf(e: unknown): { actor: string; message: string; stack?: string } {
  const err = e as { actor?: string; message: string; actorStack?: string; stack?: string };
  return { actor: err.actor ?? 'vm', message: err.message, stack: err.actorStack ?? err.stack };
}
