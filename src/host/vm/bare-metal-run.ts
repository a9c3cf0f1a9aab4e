import { spawnActor } from '../../actors/actor.ts';
import { now } from '../../actors/clock.ts';
import { mergeLatency, summarize } from '../../actors/histogram.ts';
import { supervise, type RunOutcome } from '../../actors/supervisor.ts';
import { ScenarioError } from '../../scenarios/error.ts';
import { inertKnobs, inertWarning } from '../../scenarios/inert.ts';
import type { Cost } from '../../workloads/index.ts';
import type { BareMetalConfig, BareMetalSnapshot } from '../bare-metal.ts';
import { haltlabVersion, machineFacts, type RunResult } from '../results.ts';
import type { VmActorApi } from '../vm-actor.ts';
import { createBlockBackend } from '../vmm/block-backend.ts';
import type { BuiltVm } from './build.ts';
import { failureOf, type RunControl, type RunOptions } from './run.ts';

/**
 * dsync-io with no VM: one plain thread per vCPU of the scenario runs the
 * write loop itself (bare-metal.ts). Same backend, same clock, same result
 * keys where they mean something; no vCPUs, no I/O thread.
 */

const BARE_METAL_MODULE = new URL('../bare-metal.ts', import.meta.url);

interface DsyncIo {
  kind: 'dsync-io';
  backend: 'file' | 'synthetic';
  block_size: number;
  synthetic_latency_ns: number;
}

export async function runBareMetal(vm: BuiltVm, control: RunControl, opts: RunOptions): Promise<RunResult> {
  const { scenario, mem, slots } = vm;
  const w = scenario.workload as DsyncIo;
  if (opts.faults?.length) throw new ScenarioError(['fault injection is for VMs; a bare-metal run has no actors to fault'], '--fault', 'invalid fault');
  const startedAt = new Date().toISOString();
  const backend = createBlockBackend(w.backend, w.block_size, w.synthetic_latency_ns);
  try {
    const spawnedAt = now();
    const threads = Array.from({ length: scenario.vm.vcpus }, (_, i) =>
      spawnActor<VmActorApi<BareMetalSnapshot>>(BARE_METAL_MODULE, {
        sab: mem.sab,
        layout: mem.layout,
        name: `cpu${i}`,
        config: { backend: backend.config, slot: slots.vcpu(i) } satisfies BareMetalConfig,
      }),
    );
    let outcome: RunOutcome;
    let t0 = now();
    let t1 = t0;
    try {
      await Promise.all(threads.map((a) => a.call(a.api.ready())));
      t0 = now();
      control.started(t0);
      outcome = await supervise(threads, {
        durationMs: opts.durationMs ?? scenario.duration_s * 1000,
        requestStop: () => control.requestStop(),
        signal: opts.signal,
        doing: () => 'in its write loop',
      });
    } catch (e) {
      control.requestStop();
      outcome = { status: 'failed', failure: failureOf(e) };
    }
    t1 = now();
    const snaps = await Promise.all(threads.map((a) => a.call(Promise.resolve(a.api.snapshot() as Promise<Cost<BareMetalSnapshot>>)).catch(() => undefined)));
    await Promise.all(threads.map((a) => a.terminate()));
    const present = snaps.filter((s): s is Cost<BareMetalSnapshot> => s !== undefined);
    const wallS = (t1 - t0) / 1e9;
    const requests = present.reduce((a, s) => a + s.requests, 0);
    const none = summarize(mergeLatency([]));
    return {
      haltlab: { version: haltlabVersion() },
      backend: 'model',
      machine: machineFacts(null),
      started_at: startedAt,
      status: outcome.status,
      failure: outcome.failure ?? null,
      warnings: [...inertKnobs(scenario).map(inertWarning), ...(present.length < threads.length ? [`${threads.length - present.length} bare-metal threads returned no results`] : [])],
      scenario,
      wall_s: wallS,
      phases: { startup_s: (t0 - spawnedAt) / 1e9, teardown_s: (now() - t1) / 1e9 },
      vcpus: [],
      total: { wake_latency_ns: none, timer_lateness_ns: none, timer_lateness_hist: [], host_cpu_pct_per_vcpu: 0, util_error_abs_mean: 0, deep_idle_pct: 0 },
      host: { hrtimer_lateness_ns: none, timers_fired: 0, actor_wakeups: 0, preemptions: 0, pcpu_busy_pct: [], pcpu_idle: [] },
      threads: present.map((s, i) => ({ thread: `cpu${i}`, cpu_s: s.thread_cpu_ns / 1e9, wall_s: s.wall_ns / 1e9, heap_bytes: s.heap_used_bytes })),
      block: {
        backend: w.backend,
        block_size: w.block_size,
        bare_metal: true,
        requests_submitted: requests,
        requests_completed: requests,
        requests_per_s: wallS > 0 ? requests / wallS : 0,
        io_latency_ns: summarize(mergeLatency(present.map((s) => s.io_latency))),
        service_ns: summarize(mergeLatency(present.map((s) => s.service))),
        service_spin_s: present.reduce((a, s) => a + s.service_spin_ns, 0) / 1e9,
        iothread: null,
      },
    };
  } finally {
    backend.remove();
  }
}
