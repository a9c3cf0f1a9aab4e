import { spawnActor, type Actor } from '../actors/actor.ts';
import { now } from '../actors/clock.ts';
import { decodeLatency, logBuckets, mergeLatency, summarize } from '../actors/histogram.ts';
import { supervise, type RunOutcome } from '../actors/supervisor.ts';
import type { SharedMemory } from '../actors/shared-memory.ts';
import { guestProgram } from '../guest/workloads/index.ts';
import { hasBlockDevice, hasDevice, hasWorkQueue, iothreadsOf, ScenarioError, type Scenario } from '../scenarios/schema.ts';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { actorBundle } from '../actors/bundle.ts';
import { VIRTIO_BLK_NOTIFY_PORT } from '../guest/kernel/vectors.ts';
import { kvmIoeventfd } from './kvm/ioeventfd.ts';
import { AIO_REGION, aioNotify } from './vmm/aio-context.ts';
import { createBlockBackend } from './vmm/block-backend.ts';
import type { IothreadApi, IothreadConfig, IothreadSnapshot } from './vmm/iothread.ts';
import type { BareMetalApi, BareMetalConfig, BareMetalSnapshot } from './bare-metal.ts';
import type { VmmMainApi, VmmMainConfig, VmmMainSnapshot } from './vmm/vmm-main.ts';
import type { WorkqueueThreadApi, WorkqueueThreadConfig, WorkqueueThreadSnapshot } from './vmm/workqueue-thread.ts';
import { readWorkQueue, WORK_QUEUE_REGION, workWakeWorkers } from './vmm/work-queue.ts';
import { FIXED_WINDOW_KERNELS, kvmParamDefaults, type KvmParams } from './kvm/params.ts';
import { vmmSignalVcpu } from './kvm/kick.ts';
import { readVcpuStats, statIndex } from './kvm/stats.ts';
import { advertiseLazyTscdeadline, enableCapHaltPoll, enableIrqfdResample, setFixedHaltPollWindow, setHostHardware, writeArch, writeKvmParams, type KvmVmRecord } from './kvm/vm-state.ts';
import {
  kvmCreateIrqchip,
  kvmCreateVcpu,
  kvmEnableCapDisableExits,
  kvmEnableCapUserspaceExits,
  KVM_X86_DISABLE_EXITS,
  KVM_X86_USERSPACE_EXIT,
} from './kvm/caps.ts';
import { Scheduler } from './sched/scheduler.ts';
import { irqfdResampleInterrupt } from './kvm/irqfd.ts';
import { allocateVm, guestMemory, vcpuShared, VM_I } from './layout.ts';
import { SPINLOCK_RAM } from '../guest/workloads/spinlock.ts';
import { haltlabVersion, machineFacts, type DeferredResult, type RunResult, type VcpuResult, type SimResult } from './results.ts';
import type { HostActorApi, HostActorConfig, HostActorSnapshot } from './sched/host-actor.ts';
import { H } from './sched/task-state.ts';
import type { VcpuThreadApi, VcpuThreadConfig, VcpuThreadSnapshot } from './vmm/vcpu-thread.ts';
import type { IrqSourceApi, IrqSourceConfig, IrqSourceSnapshot } from './vmm/irq-source.ts';
import { LINE, MODE, RUN_STATE_NAMES, V } from './kvm/vcpu-state.ts';
import { FAULT_WORD, FAULTS_REGION, type FaultSpec } from './faults.ts';
import { actorSlots, type ActorSlots } from './actor-slots.ts';
import { TraceCollector } from '../trace/collector.ts';
import { describeEvent, writeChromeTrace } from '../trace/chrome.ts';
import { availableParallelism } from 'node:os';
import { runStateOf } from './thread-state.ts';
import { inertKnobs, inertWarning } from '../scenarios/inert.ts';

/**
 * createVm(scenario).run(): build the VM's shared memory, start the host actor
 * and one thread per vCPU, run for the scenario's duration (or until Ctrl-C or
 * a failure), stop everything, and return the results, partial or not.
 */

export interface RunOptions {
  /** Abort to stop early; the results so far are returned with status "interrupted". */
  signal?: AbortSignal;
  /** Override the scenario's duration (ms). */
  durationMs?: number;
  /** Faults to inject (testing that a run stops cleanly and keeps its results). */
  faults?: FaultSpec[];
}

const HOST_MODULE = new URL('./sched/host-actor.ts', import.meta.url);
const VCPU_MODULE = new URL('./vmm/vcpu-thread.ts', import.meta.url);
const IRQ_SOURCE_MODULE = new URL('./vmm/irq-source.ts', import.meta.url);
const IOTHREAD_MODULE = new URL('./vmm/iothread.ts', import.meta.url);
const BLOCK_WORKER_MODULE = new URL('./vmm/block-worker.ts', import.meta.url);
const BARE_METAL_MODULE = new URL('./bare-metal.ts', import.meta.url);
const VMM_MAIN_MODULE = new URL('./vmm/vmm-main.ts', import.meta.url);
const WORKQUEUE_MODULE = new URL('./vmm/workqueue-thread.ts', import.meta.url);
/** QEMU's thread pool grows to 64 threads; one request per vCPU is outstanding here. */
const BLOCK_POOL_MAX_THREADS = 64;
const TICK_NS = 1_000_000;

export interface LiveCounters {
  /** Seconds since the actors started running (0 before). */
  elapsed_s: number;
  exits: number;
  /** Halts through kvm_vcpu_halt(): x86 HLT exits plus arm64 trapped WFIs. */
  halt_exits: number;
  halt_successful_poll: number;
  irq_injections: number;
  /** Interrupts delivered: irq_injections plus posted ones (into a vCPU idling in guest mode). */
  interrupts: number;
}

export interface VmOptions {
  /** Record a trace (each thread into its own shared ring); write it with writeTrace() after run(). */
  trace?: boolean;
  /** Instead of a whole trace, keep each thread's last N events (lastEvents()). */
  flightRecorder?: number;
}

export class Vm {
  readonly mem: SharedMemory;
  private runningSince = 0;
  private readonly slots: ActorSlots;
  private readonly iothreads: number;
  private readonly collector: TraceCollector | null;
  private span = { t0: 0, t1: 0 };
  /** The 2023 proposal's kvm_run->userspace_exits every vCPU thread sets before KVM_RUN. */
  private readonly userspaceExits: number;

  constructor(
    readonly scenario: Scenario,
    opts: VmOptions = {},
  ) {
    const { vm, host } = scenario;
    this.iothreads = iothreadsOf(scenario.workload);
    this.slots = actorSlots(vm.vcpus, this.iothreads);
    const recording = opts.trace === true || (opts.flightRecorder ?? 0) > 0;
    this.mem = allocateVm({ vcpus: vm.vcpus, pcpus: host.pcpus, actors: this.slots.count, iothreads: this.iothreads, trace: recording });
    this.collector = recording ? new TraceCollector(this.mem, this.slots.count, undefined, opts.trace ? 0 : opts.flightRecorder) : null;
    const kvm = this.mem.record('kvm', 0);
    writeKvmParams(kvm, { ...kvmParamDefaults(host.kernel, host.arch), ...host.kvm });
    if (FIXED_WINDOW_KERNELS.has(host.kernel)) setFixedHaltPollWindow(kvm);
    setHostHardware(kvm, { exit_cost_ns: host.exit_cost_ns, apicv: host.apicv, lapic_timer_advance: host.lapic_timer_advance });
    // sim-loop's exit on WFI is the arm64 request itself; on x86 its analogue is the RFC's HLT exit (setUpVm).
    writeArch(kvm, host.arch, { ...host.arm64, exit_on_wfx: host.arm64.exit_on_wfx || (host.arch === 'arm64' && simulatorExitsOnIdle(scenario)) });
    Scheduler.setCpuidle(this.mem, host.cpuidle);
    if (host.kvm_cap_halt_poll !== null) enableCapHaltPoll(kvm, host.kvm_cap_halt_poll);
    if (host.proposals.lazy_tscdeadline) advertiseLazyTscdeadline(kvm);
    // The device learns of each EOI through its irqfd's resamplefd.
    if (hasDevice(scenario.workload)) enableIrqfdResample(kvm, LINE.DEVICE0);
    // virtio-blk: the queue-notify register is an ioeventfd of I/O thread 0's context.
    if (hasBlockDevice(scenario.workload)) kvmIoeventfd(kvm, VIRTIO_BLK_NOTIFY_PORT, 0, vm.vcpus);
    this.userspaceExits = setUpVm(kvm, scenario);
  }

  get stopRequested(): boolean {
    return Atomics.load(this.mem.record('vmm', 0).i32, VM_I.stop) !== 0;
  }

  /** Ask every actor to stop: the VMM's stop event then a signal to each vCPU thread; the host's stop word. */
  requestStop(): void {
    const mem = this.mem;
    const vmm = mem.record('vmm', 0);
    Atomics.store(vmm.i32, VM_I.stop, 1);
    Atomics.notify(vmm.i32, VM_I.stop); // I/O threads sleep on it
    Atomics.notify(vmm.i32, VM_I.paused); // and, in a paused VM, every thread waits on this
    for (let i = 0; i < this.iothreads; i++) aioNotify(mem.record(AIO_REGION, i)); // an I/O thread asleep in aio_poll
    workWakeWorkers(mem.record(WORK_QUEUE_REGION, 0), Infinity); // workqueue threads asleep on the queue
    for (let i = 0; i < this.scenario.vm.vcpus; i++) {
      vmmSignalVcpu(vcpuShared(mem, i));
      irqfdResampleInterrupt(vcpuShared(mem, i)); // an I/O thread waiting for an EOI
    }
    const host = mem.record('host', 0);
    Atomics.store(host.i32, H.stop, 1);
    Atomics.add(host.i32, H.doorbell, 1);
    Atomics.notify(host.i32, H.doorbell);
  }

  // --- What a VMM (or an administrator) can change while the VM runs ---

  /** Write kvm module parameters (/sys/module/kvm/parameters/*): every vCPU reads them at its next halt. */
  setKvmParams(params: Partial<KvmParams>): void {
    writeKvmParams(this.mem.record('kvm', 0), params);
  }

  /** KVM_ENABLE_CAP(KVM_CAP_HALT_POLL): allowed at any time; there is no way back to the global parameter. */
  enableCapHaltPoll(maxNs: number): void {
    enableCapHaltPoll(this.mem.record('kvm', 0), maxNs);
  }

  get paused(): boolean {
    return Atomics.load(this.mem.record('vmm', 0).i32, VM_I.paused) !== 0;
  }

  /** Stop the VM as QEMU's `stop` does: kick every vCPU out to the VMM, where it waits; devices hold their interrupts. */
  pause(): void {
    Atomics.store(this.mem.record('vmm', 0).i32, VM_I.paused, 1);
    for (let i = 0; i < this.scenario.vm.vcpus; i++) vmmSignalVcpu(vcpuShared(this.mem, i));
  }

  resume(): void {
    const vmm = this.mem.record('vmm', 0);
    Atomics.store(vmm.i32, VM_I.paused, 0);
    Atomics.notify(vmm.i32, VM_I.paused);
  }

  /** Every thread of the VM: its name, its slot (THREAD record) and whether it is a vCPU or an I/O thread. */
  threads(): { name: string; slot: number; kind: 'host' | 'vcpu' | 'iothread' }[] {
    return this.actorNames().map((name, slot) => ({ name, slot, kind: slot === this.slots.host ? 'host' : name.startsWith('vcpu') ? 'vcpu' : 'iothread' }));
  }

  /** Write the recorded trace as Chrome Trace Event JSON; returns events written and events lost. */
  writeTrace(path: string, metadata: Record<string, unknown> = {}): { events: number; dropped: number } {
    if (!this.collector) throw new Error('this VM was not created with { trace: true }');
    const events = writeChromeTrace(path, {
      events: this.collector.events(),
      slots: this.slots,
      vcpus: this.scenario.vm.vcpus,
      pcpus: this.scenario.host.pcpus,
      iothreads: this.iothreads,
      t0: this.span.t0,
      t1: this.span.t1,
      metadata: { ...metadata, scenario: this.scenario, dropped_events: this.collector.dropped },
    });
    return { events, dropped: this.collector.dropped };
  }

  /** A thread's last recorded events, described, oldest first (with a flight recorder). */
  lastEvents(actor: string): string[] {
    const slot = this.actorNames().indexOf(actor);
    if (!this.collector || slot < 0) return [];
    this.collector.drain();
    const t0 = this.runningSince;
    return this.collector.last(slot).map((e) => `${((e.ts - t0) / 1e6).toFixed(3)} ms ${describeEvent(e)}`);
  }

  /** Seconds since the actors started running (0 before). */
  elapsedS(): number {
    return this.runningSince ? (now() - this.runningSince) / 1e9 : 0;
  }

  /** Counters summed over the vCPUs, read from shared memory while the run goes on (for a progress line). */
  live(): LiveCounters {
    const sum = (name: 'exits' | 'halt_exits' | 'wfi_exit_stat' | 'halt_successful_poll' | 'irq_injections' | 'posted_interrupts') => {
      let total = 0;
      for (let i = 0; i < this.scenario.vm.vcpus; i++) total += Atomics.load(this.mem.record('vcpu_stats', i).i32, statIndex(name));
      return total;
    };
    return {
      elapsed_s: this.elapsedS(),
      exits: sum('exits'),
      halt_exits: sum('halt_exits') + sum('wfi_exit_stat'), // halts through kvm_vcpu_halt: x86 HLTs, arm64 trapped WFIs
      halt_successful_poll: sum('halt_successful_poll'),
      irq_injections: sum('irq_injections'),
      interrupts: sum('irq_injections') + sum('posted_interrupts'),
    };
  }

  /** What an actor is doing, from shared memory: for messages about an actor that failed or hangs. */
  doing(actor: string): string {
    const m = /^vcpu(\d+)$/.exec(actor);
    if (!m || Number(m[1]) >= this.scenario.vm.vcpus) return 'in its loop';
    const vcpu = vcpuShared(this.mem, Number(m[1]));
    const v = vcpu.v.i32;
    const mode = Object.entries(MODE).find(([, x]) => x === Atomics.load(v, V.mode))?.[0] ?? '?';
    return `vCPU state ${RUN_STATE_NAMES[runStateOf(vcpu.t)]}, vcpu->mode ${mode}, pending lines 0x${Atomics.load(v, V.irr).toString(16)}`;
  }

  private actorNames(): string[] {
    return Array.from({ length: this.slots.count }, (_, i) => this.slots.name(i));
  }

  /** Carry out one injected fault (see faults.ts). */
  private inject(f: FaultSpec, actors: Actor<unknown>[], warnings: string[]): void {
    const slot = this.actorNames().indexOf(f.actor);
    const at = this.elapsedS().toFixed(2);
    warnings.push(`fault injected: ${f.kind} ${f.actor} at ${at} s (${this.doing(f.actor)})`);
    if (f.kind === 'terminate') {
      void actors.find((a) => a.name === f.actor)?.worker.terminate();
      return;
    }
    Atomics.store(this.mem.record(FAULTS_REGION, slot).i32, 0, f.kind === 'throw' ? FAULT_WORD.THROW : FAULT_WORD.HANG);
    // Wake the actor so that it reaches a loop point.
    if (f.actor.startsWith('vcpu')) vmmSignalVcpu(vcpuShared(this.mem, slot - this.slots.vcpu(0)));
    const host = this.mem.record('host', 0);
    Atomics.add(host.i32, H.doorbell, 1);
    Atomics.notify(host.i32, H.doorbell);
    Atomics.notify(this.mem.record('vmm', 0).i32, VM_I.stop);
    for (let i = 0; i < this.scenario.vm.vcpus; i++) irqfdResampleInterrupt(vcpuShared(this.mem, i));
  }

  async run(opts: RunOptions = {}): Promise<RunResult> {
    const { scenario, mem } = this;
    if (hasBlockDevice(scenario.workload) && scenario.workload.bare_metal) return this.runBareMetal(scenario.workload, opts);
    const names = this.actorNames();
    for (const f of opts.faults ?? []) {
      if (!names.includes(f.actor)) throw new ScenarioError([`no actor "${f.actor}" in this VM: it has ${names.join(', ')}`], '--fault', 'invalid fault');
    }
    const faultWarnings: string[] = [];
    const startedAt = new Date().toISOString();
    const spawnedAt = now();
    const base = { sab: mem.sab, layout: mem.layout };
    const hostCfg: HostActorConfig = {
      vcpus: scenario.vm.vcpus,
      sched_slice_ns: scenario.host.sched_slice_ns,
      tick_ns: TICK_NS,
      slot: this.slots.host,
    };
    const program = guestProgram(scenario);
    const wq = scenario.workload;
    const deferred = hasWorkQueue(wq) ? { item_ns: wq.item_ns, vcpu_budget_ns: wq.vcpu_budget_ns } : null;
    const sim = wq.kind === 'sim-loop' && wq.mode !== 'kernel' ? { mode: wq.mode, quantum_ns: wq.quantum_ns, tick_ns: wq.tick_ns } : null;
    const hostActor = spawnActor<HostActorApi>(HOST_MODULE, { ...base, name: 'host', config: hostCfg });
    const vcpus = Array.from({ length: scenario.vm.vcpus }, (_, id) =>
      spawnActor<VcpuThreadApi>(VCPU_MODULE, {
        ...base,
        name: `vcpu${id}`,
        config: { id, program, ple: scenario.host.kvm_intel, slot: this.slots.vcpu(id), userspace_exits: this.userspaceExits, deferred, sim } satisfies VcpuThreadConfig,
      }),
    );
    const w = scenario.workload;
    const irqSource =
      hasDevice(w)
        ? spawnActor<IrqSourceApi>(IRQ_SOURCE_MODULE, {
            ...base,
            name: 'iothread0',
            config: {
              vcpus: scenario.vm.vcpus,
              line: LINE.DEVICE0,
              gap_ns: w.gap_ns,
              jitter: w.jitter,
              seed: w.seed,
              slot: this.slots.iothread(0),
            } satisfies IrqSourceConfig,
          })
        : undefined;
    // The block device's backend file exists from here until the end of run(), whatever happens.
    const backend = hasBlockDevice(w) ? createBlockBackend(w.backend, w.block_size, w.synthetic_latency_ns) : undefined;
    const blockIo =
      hasBlockDevice(w) && backend
        ? spawnActor<IothreadApi>(IOTHREAD_MODULE, {
            ...base,
            name: 'iothread0',
            config: {
              queues: scenario.vm.vcpus,
              line: LINE.VIRTIO_BLK,
              poll: scenario.vmm.iothread,
              backend: backend.config,
              pool_threads: Math.min(scenario.vm.vcpus, BLOCK_POOL_MAX_THREADS),
              worker_url: actorBundle(BLOCK_WORKER_MODULE).href,
              piscina_url: pathToFileURL(createRequire(import.meta.url).resolve('piscina')).href,
              slot: this.slots.iothread(0),
              aio: 0,
            } satisfies IothreadConfig,
          })
        : undefined;
    // deferred-work: the VMM main loop (iothread0) and its workqueue threads (iothread1..).
    const vmmMain = hasWorkQueue(w)
      ? spawnActor<VmmMainApi>(VMM_MAIN_MODULE, {
          ...base,
          name: 'iothread0',
          config: { gap_ns: w.gap_ns, jitter: w.jitter, seed: w.seed, item_ns: w.item_ns, workers: w.workers, depth_per_worker: w.depth_per_worker, fallback_ns: w.fallback_ns, slot: this.slots.iothread(0) } satisfies VmmMainConfig,
        })
      : undefined;
    const workers = hasWorkQueue(w)
      ? Array.from({ length: w.workers }, (_, i) =>
          spawnActor<WorkqueueThreadApi>(WORKQUEUE_MODULE, { ...base, name: `iothread${i + 1}`, config: { item_ns: w.item_ns, slot: this.slots.iothread(i + 1) } satisfies WorkqueueThreadConfig }),
        )
      : [];
    const actors: Actor<HostActorApi | VcpuThreadApi | IrqSourceApi | IothreadApi | VmmMainApi | WorkqueueThreadApi>[] = [
      hostActor,
      ...vcpus,
      ...(irqSource ? [irqSource] : []),
      ...(blockIo ? [blockIo] : []),
      ...(vmmMain ? [vmmMain] : []),
      ...workers,
    ];
    try {
    let outcome: RunOutcome;
    let t0 = now();
    let t1 = t0;
    // The main thread is idle during a run: it drains the trace rings, often enough that they do
    // not fill (16384 events each; a busy vCPU records ~300000/s) and rarely enough not to compete.
    const draining = this.collector ? setInterval(() => this.collector?.drain(), 20) : undefined;
    try {
      await Promise.all(actors.map((a) => a.call(a.api.ready())));
      t0 = now();
      this.runningSince = t0;
      const faultTimers = (opts.faults ?? []).map((f) => setTimeout(() => this.inject(f, actors, faultWarnings), f.at_s * 1000));
      outcome = await supervise(actors, {
        durationMs: opts.durationMs ?? scenario.duration_s * 1000,
        requestStop: () => this.requestStop(),
        signal: opts.signal,
        doing: (a) => this.doing(a),
      });
      t1 = now();
      faultTimers.forEach(clearTimeout);
    } catch (e) {
      // A failure before the run started (an actor that did not come up).
      this.requestStop();
      t1 = now();
      const err = e as { actor?: string; message: string; actorStack?: string; stack?: string };
      outcome = {
        status: 'failed',
        failure: { actor: err.actor ?? 'vm', message: err.message, stack: err.actorStack ?? err.stack },
        stuck: actors.map((a) => a.name), // in an unknown state: do not wait long for their results
      };
    }
    // An actor whose loop ended answers, however long its thread waits for a core (with 256
    // threads on 2 cores, seconds); a dead one rejects at once. Only one that never left its loop
    // (hung) gets a short timeout.
    const stuck = new Set(outcome.stuck ?? []);
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
    const hostSnap = await snap<HostActorSnapshot>(hostActor);
    const vcpuSnaps = await Promise.all(vcpus.map((a) => snap<VcpuThreadSnapshot>(a)));
    const ioSnap = irqSource ? await snap<IrqSourceSnapshot>(irqSource) : undefined;
    const blockSnap = blockIo ? await snap<IothreadSnapshot>(blockIo) : undefined;
    const mainSnap = vmmMain ? await snap<VmmMainSnapshot>(vmmMain) : undefined;
    const workerSnaps = await Promise.all(workers.map((a) => snap<WorkqueueThreadSnapshot>(a)));
    await Promise.all(actors.map((a) => a.terminate()));
    clearInterval(draining);
    this.collector?.drain();
    this.span = { t0, t1 };
    const result = this.results(startedAt, outcome, (t1 - t0) / 1e9, hostSnap, vcpuSnaps, ioSnap, blockSnap, mainSnap ? { main: mainSnap, workers: workerSnaps } : undefined);
    result.warnings.unshift(...faultWarnings, ...lost);
    result.phases = { startup_s: (t0 - spawnedAt) / 1e9, teardown_s: (now() - t1) / 1e9 };
    return result;
    } finally {
      backend?.remove();
    }
  }

  /**
   * dsync-io with no VM: one plain thread per vCPU of the scenario runs the
   * write loop itself (bare-metal.ts). Same backend, same clock, same result
   * keys where they mean something; no vCPUs, no I/O thread.
   */
  private async runBareMetal(w: Extract<Scenario['workload'], { kind: 'dsync-io' }>, opts: RunOptions): Promise<RunResult> {
    const { scenario, mem } = this;
    if (opts.faults?.length) throw new ScenarioError(['fault injection is for VMs; a bare-metal run has no actors to fault'], '--fault', 'invalid fault');
    const startedAt = new Date().toISOString();
    const backend = createBlockBackend(w.backend, w.block_size, w.synthetic_latency_ns);
    try {
      const spawnedAt = now();
      const threads = Array.from({ length: scenario.vm.vcpus }, (_, i) =>
        spawnActor<BareMetalApi>(BARE_METAL_MODULE, {
          sab: mem.sab,
          layout: mem.layout,
          name: `cpu${i}`,
          config: { backend: backend.config, slot: this.slots.vcpu(i) } satisfies BareMetalConfig,
        }),
      );
      let outcome: RunOutcome;
      let t0 = now();
      let t1 = t0;
      try {
        await Promise.all(threads.map((a) => a.call(a.api.ready())));
        t0 = this.runningSince = now();
        outcome = await supervise(threads, {
          durationMs: opts.durationMs ?? scenario.duration_s * 1000,
          requestStop: () => this.requestStop(),
          signal: opts.signal,
          doing: () => 'in its write loop',
        });
      } catch (e) {
        this.requestStop();
        const err = e as { actor?: string; message: string; actorStack?: string; stack?: string };
        outcome = { status: 'failed', failure: { actor: err.actor ?? 'vm', message: err.message, stack: err.actorStack ?? err.stack } };
      }
      t1 = now();
      const snaps = await Promise.all(threads.map((a) => a.call(Promise.resolve(a.api.snapshot() as Promise<BareMetalSnapshot>)).catch(() => undefined)));
      await Promise.all(threads.map((a) => a.terminate()));
      const present = snaps.filter((s): s is BareMetalSnapshot => s !== undefined);
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
        host: { hrtimer_lateness_ns: none, timers_fired: 0, preemptions: 0, pcpu_busy_pct: [], pcpu_idle: [] },
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

  /** deferred-work: who ran the queue's items and how long they waited for it. */
  private deferredResult(main: VmmMainSnapshot, workers: (WorkqueueThreadSnapshot | undefined)[], vcpus: VcpuThreadSnapshot[], wallS: number): DeferredResult {
    const q = readWorkQueue(this.mem.record(WORK_QUEUE_REGION, 0));
    const w = workers.filter((s): s is WorkqueueThreadSnapshot => s !== undefined);
    const waits = { workers: w.map((s) => s.wait), vcpus: vcpus.map((s) => s.deferred_wait), fallback: [main.fallback_wait] };
    return {
      created: q.created,
      created_per_s: wallS > 0 ? q.created / wallS : 0,
      done: q.done,
      left: q.left,
      overflows: q.overflows,
      wait_ns: {
        all: summarize(mergeLatency([...waits.workers, ...waits.vcpus, ...waits.fallback])),
        workers: summarize(mergeLatency(waits.workers)),
        vcpus: summarize(mergeLatency(waits.vcpus)),
        fallback: summarize(mergeLatency(waits.fallback)),
      },
      vcpu_items: vcpus.map((s) => s.deferred_done),
    };
  }

  private results(
    startedAt: string,
    outcome: RunOutcome,
    wallS: number,
    host: HostActorSnapshot | undefined,
    snaps: (VcpuThreadSnapshot | undefined)[],
    io: IrqSourceSnapshot | undefined,
    block: IothreadSnapshot | undefined,
    deferredSnaps?: { main: VmmMainSnapshot; workers: (WorkqueueThreadSnapshot | undefined)[] },
  ): RunResult {
    const { scenario, mem } = this;
    // Knobs set that nothing in this scenario reads: a comparison would show noise as their effect.
    const warnings: string[] = inertKnobs(scenario).map(inertWarning);
    const cores = availableParallelism();
    if (scenario.host.pcpus > cores) {
      warnings.push(`the scenario has ${scenario.host.pcpus} pCPUs but this machine has ${cores} cores: wall-clock figures include that contention`);
    }
    if (this.collector && this.collector.dropped > 0) {
      warnings.push(`the trace lost ${this.collector.dropped} events (a thread's ring was full, or the trace reached its size cap)`);
    }
    if (host && host.timer_slack_ns !== null && host.timer_slack_ns > 1000) {
      warnings.push(`host actor timer slack is ${host.timer_slack_ns} ns (could not lower it): sleeping vCPUs' timers fire up to that late`);
    }
    if (scenario.host.proposals.lazy_tscdeadline && !snaps.some((s) => s?.guest_clockevent?.kind === 'kvm-lazy-tscdeadline')) {
      warnings.push(`lazy_tscdeadline is on, but the ${scenario.workload.kind} guest writes MSR_IA32_TSC_DEADLINE directly (kvm-unit-tests style), not through its kernel's clockevent: the proposal changes nothing here (hrtimer-rearm uses it)`);
    }
    const vcpus: VcpuResult[] = [];
    snaps.forEach((s, id) => {
      if (!s) {
        warnings.push(`vcpu${id} returned no results`);
        return;
      }
      const wall = s.wall_ns / 1e9;
      const cpu = s.thread_cpu_ns / 1e9;
      const lateness = decodeLatency(s.timer_lateness);
      const busy = s.wall_ns > 0 ? s.guest_compute_ns / s.wall_ns : 0;
      vcpus.push({
        id,
        ...readVcpuStats(mem.record('vcpu_stats', id)),
        halt_poll_ns: s.halt_poll_ns,
        lapic_timer_advance_ns: s.lapic_timer_advance_ns,
        ple_window: s.ple_window,
        guest_haltpoll: s.guest_haltpoll,
        guest_clockevent: s.guest_clockevent,
        wake_latency_ns: summarize(decodeLatency(s.wake_latency)),
        timer_lateness_ns: summarize(lateness),
        sched: { util: s.util, guest_busy_share: busy, util_error: s.util - busy },
        timer_early_count: s.timer_lateness.negative,
        cpu: {
          thread_cpu_s: cpu,
          wall_s: wall,
          host_cpu_pct: wall > 0 ? (100 * cpu) / wall : 0,
          state_s: Object.fromEntries(Object.entries(s.state_ns).map(([k, v]) => [k, v / 1e9])),
        },
      });
    });
    const present = snaps.filter((s): s is VcpuThreadSnapshot => s !== undefined);
    const threadsCpu = [
      ...(host ? [{ thread: 'host', cpu_s: host.thread_cpu_ns / 1e9, wall_s: host.wall_ns / 1e9, heap_bytes: host.heap_used_bytes }] : []),
      ...present.map((s) => ({ thread: `vcpu${s.id}`, cpu_s: s.thread_cpu_ns / 1e9, wall_s: s.wall_ns / 1e9, heap_bytes: s.heap_used_bytes })),
      ...(io ? [{ thread: 'iothread0', cpu_s: io.thread_cpu_ns / 1e9, wall_s: io.wall_ns / 1e9, heap_bytes: io.heap_used_bytes }] : []),
      ...(block ? [{ thread: 'iothread0', cpu_s: block.thread_cpu_ns / 1e9, wall_s: block.wall_ns / 1e9, heap_bytes: block.heap_used_bytes }] : []),
      ...(deferredSnaps
        ? [deferredSnaps.main, ...deferredSnaps.workers].flatMap((s, i) =>
            s ? [{ thread: `iothread${i}`, cpu_s: s.thread_cpu_ns / 1e9, wall_s: s.wall_ns / 1e9, heap_bytes: s.heap_used_bytes }] : [],
          )
        : []),
    ];
    const w = scenario.workload;
    const blockResult = hasBlockDevice(w) && block
      ? {
          backend: w.backend,
          block_size: w.block_size,
          bare_metal: false,
          requests_submitted: block.requests_submitted,
          requests_completed: block.requests_completed,
          requests_per_s: wallS > 0 ? block.requests_completed / wallS : 0,
          io_latency_ns: summarize(mergeLatency(present.map((s) => s.io_latency))),
          service_ns: summarize(decodeLatency(block.service)),
          service_spin_s: block.service_spin_ns / 1e9,
          iothread: {
            ...scenario.vmm.iothread,
            cpu_pct: block.wall_ns > 0 ? (100 * block.thread_cpu_ns) / block.wall_ns : 0,
            aio_poll: block.aio_poll,
          },
        }
      : undefined;
    const ram = guestMemory(mem);
    const word = (addr: number) => ram.load(addr);
    const spinlockResult =
      w.kind === 'spinlock'
        ? {
            acquisitions: word(SPINLOCK_RAM.ACQUIRED),
            releases: word(SPINLOCK_RAM.RELEASED),
            acquisitions_per_s: wallS > 0 ? word(SPINLOCK_RAM.ACQUIRED) / wallS : 0,
            mutual_exclusion_violations: word(SPINLOCK_RAM.VIOLATIONS),
            spin_time_ns: summarize(mergeLatency(present.map((s) => s.spin_time))),
          }
        : undefined;
    const lateness = mergeLatency(present.map((s) => s.timer_lateness));
    return {
      haltlab: { version: haltlabVersion() },
      backend: 'model',
      machine: machineFacts(host?.timer_slack_ns ?? null),
      started_at: startedAt,
      status: outcome.status,
      failure: outcome.failure ?? null,
      warnings,
      scenario,
      wall_s: wallS,
      phases: { startup_s: 0, teardown_s: 0 },
      vcpus,
      total: {
        wake_latency_ns: summarize(mergeLatency(present.map((s) => s.wake_latency))),
        timer_lateness_ns: summarize(lateness),
        timer_lateness_hist: logBuckets(lateness),
        host_cpu_pct_per_vcpu: vcpus.length ? vcpus.reduce((a, v) => a + v.cpu.host_cpu_pct, 0) / vcpus.length : 0,
        util_error_abs_mean: vcpus.length ? vcpus.reduce((a, v) => a + Math.abs(v.sched.util_error), 0) / vcpus.length : 0,
        deep_idle_pct: host && host.wall_ns > 0 ? (100 * host.pcpu_idle.reduce((a, p) => a + p.deep_ns, 0)) / host.wall_ns : 0,
      },
      host: {
        hrtimer_lateness_ns: summarize(host ? decodeLatency(host.hrtimer_lateness) : mergeLatency([])),
        timers_fired: host?.timers_fired ?? 0,
        preemptions: host?.preemptions ?? 0,
        ...(io && { device_interrupts_raised: io.raised, device_eois: io.eois }),
        pcpu_busy_pct: host ? host.pcpu_busy_ns.map((b) => (host.wall_ns > 0 ? (100 * b) / host.wall_ns : 0)) : [],
        pcpu_idle: (host?.pcpu_idle ?? []).map((p) => ({
          shallow_s: p.shallow_ns / 1e9,
          deep_s: p.deep_ns / 1e9,
          exits_shallow: p.exits_shallow,
          exits_deep: p.exits_deep,
          exit_latency_s: p.exit_latency_ns / 1e9,
        })),
      },
      threads: threadsCpu,
      ...(blockResult && { block: blockResult }),
      ...(spinlockResult && { spinlock: spinlockResult }),
      ...(deferredSnaps && { deferred: this.deferredResult(deferredSnaps.main, deferredSnaps.workers, present, wallS) }),
      ...(scenario.workload.kind === 'sim-loop' && { sim: simResult(scenario.workload, present, vcpus, wallS) }),
    };
  }
}

/** A VM ioctl that failed: its name and KVM's errno, as a VMM would report it. */
export class KvmIoctlError extends Error {
  constructor(
    readonly ioctl: string,
    readonly errno: number,
  ) {
    super(`${ioctl} failed: ${errno}`);
    this.name = 'KvmIoctlError';
  }
}

function ioctl(name: string, r: number): void {
  if (r < 0) throw new KvmIoctlError(name, r);
}

/** sim-loop in exit-on-wfi mode: the VM needs the proposal's exit of its architecture enabled. */
const simulatorExitsOnIdle = ({ workload: w }: Pick<Scenario, 'workload'>): boolean => w.kind === 'sim-loop' && w.mode === 'exit-on-wfi';

/**
 * What a VMM does between KVM_CREATE_VM and its vCPU threads, in KVM's order:
 * the irqchip and the VM caps, then KVM_CREATE_VCPU for each vCPU. Returns
 * the kvm_run->userspace_exits the vCPU threads set (the 2023 proposal).
 */
function setUpVm(kvm: KvmVmRecord, { host, vm, workload }: Scenario): number {
  if (host.irqchip === 'kernel') ioctl('KVM_CREATE_IRQCHIP', kvmCreateIrqchip(kvm));
  const d = host.kvm_cap_x86_disable_exits;
  const mask = (d.hlt ? KVM_X86_DISABLE_EXITS.HLT : 0) | (d.mwait ? KVM_X86_DISABLE_EXITS.MWAIT : 0) | (d.pause ? KVM_X86_DISABLE_EXITS.PAUSE : 0);
  if (mask) ioctl('KVM_ENABLE_CAP(KVM_CAP_X86_DISABLE_EXITS)', kvmEnableCapDisableExits(kvm, mask));
  // The simulator's exit on WFI is the same ask as the x86 RFC's HLT exit: return to userspace
  // whenever the vCPU would otherwise block (seeds/001), which is what that bit does here.
  const simExit = host.arch === 'x86' && simulatorExitsOnIdle({ workload });
  const u = { ...host.proposals.userspace_exit, hlt: host.proposals.userspace_exit.hlt || simExit };
  if (u.hlt || u.mwait || u.mwait_yield) ioctl('KVM_ENABLE_CAP(KVM_CAP_X86_USERSPACE_EXITS)', kvmEnableCapUserspaceExits(kvm, { mwait_yield: u.mwait_yield }));
  for (let i = 0; i < vm.vcpus; i++) kvmCreateVcpu(kvm);
  return (u.hlt ? KVM_X86_USERSPACE_EXIT.HLT : 0) | (u.mwait ? KVM_X86_USERSPACE_EXIT.MWAIT : 0);
}

/** sim-loop: simulated time per wall second, and the wall time lost blocked in the kernel, over the vCPUs. */
function simResult(w: Extract<Scenario['workload'], { kind: 'sim-loop' }>, snaps: VcpuThreadSnapshot[], vcpus: VcpuResult[], wallS: number): SimResult {
  const n = Math.max(1, snaps.length);
  const sum = (f: (s: NonNullable<VcpuThreadSnapshot['sim']>) => number) => snaps.reduce((a, s) => a + (s.sim ? f(s.sim) : 0), 0);
  // Plain KVM has no virtual time: it runs in real time by definition, so there is no ratio to
  // measure (null, not a constant 1); what it spends asleep in the kernel is the guest's idle, not waste.
  const simulated = w.mode === 'kernel' ? null : sum((s) => s.simulated_ns) / 1e9 / n;
  const wall = w.mode === 'kernel' ? wallS : sum((s) => s.wall_ns) / 1e9 / n;
  const blocked = w.mode === 'kernel' ? vcpus.reduce((a, v) => a + (v.cpu.state_s.blocked ?? 0) + (v.cpu.state_s.polling ?? 0), 0) / n : sum((s) => s.blocked_in_kernel_ns) / 1e9 / n;
  return {
    mode: w.mode,
    simulated_s: simulated,
    wall_s: wall,
    sim_per_wall: simulated === null ? null : wall > 0 ? simulated / wall : 0,
    blocked_in_kernel_s: blocked,
    blocked_share: wall > 0 ? blocked / wall : 0,
    quanta: sum((s) => s.quanta),
    watchdog_kicks: sum((s) => s.watchdog_kicks),
    idle_exits: sum((s) => s.idle_exits),
    skips: sum((s) => s.skips),
    // Plain KVM: the guest's own deadline timer, counted where it fires (ticks_injected where it is taken).
    ticks: w.mode === 'kernel' ? vcpus.reduce((a, v) => a + v.model.timer_fired_in_guest + v.model.timer_fired_by_host + v.model.timer_fired_at_write, 0) : sum((s) => s.ticks),
    ticks_coalesced: sum((s) => s.ticks_coalesced),
    ticks_injected: vcpus.reduce((a, v) => a + (w.mode === 'kernel' ? v.model.timer_interrupts_injected : v.model.device_interrupts_injected), 0),
  };
}

export function createVm(scenario: Scenario, opts: VmOptions = {}): Vm {
  return new Vm(scenario, opts);
}
