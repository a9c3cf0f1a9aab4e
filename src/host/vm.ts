import type { Actor } from '../actors/actor.ts';
import { now } from '../actors/clock.ts';
import type { SharedMemory } from '../actors/shared-memory.ts';
import { ScenarioError, type Scenario } from '../scenarios/schema.ts';
import { describeEvent, writeChromeTrace } from '../trace/chrome.ts';
import type { TraceCollector } from '../trace/collector.ts';
import { workloadModule } from '../workloads/index.ts';
import type { ActorSlots } from './actor-slots.ts';
import { FAULT_WORD, FAULTS, type FaultSpec } from './faults.ts';
import { irqfdResampleInterrupt } from './kvm/irqfd.ts';
import { vmmSignalVcpu } from './kvm/kick.ts';
import type { KvmParams } from './kvm/params.ts';
import { VCPU_STAT } from './kvm/stats.ts';
import { MODE } from './kvm/vcpu-state.ts';
import { enableCapHaltPoll, KVM, writeKvmParams } from './kvm/vm-state.ts';
import { vcpuRecords } from './layout.ts';
import type { RunResult } from './results.ts';
import { HOST } from './sched/task-state.ts';
import { RUN_STATE_NAMES, runStateOf } from './thread-state.ts';
import { runBareMetal } from './vm/bare-metal-run.ts';
import { buildVm, type BuiltVm, type VmBuildOptions } from './vm/build.ts';
import { runVm, type RunControl, type RunOptions } from './vm/run.ts';
import { AIO, aioNotify } from './vmm/aio-context.ts';
import { VMM } from './vmm/vmm-state.ts';
import { WORK_QUEUE, workWakeWorkers } from './vmm/work-queue.ts';

export { KvmIoctlError } from './vm/build.ts';
export type { RunOptions } from './vm/run.ts';

/**
 * createVm(scenario).run(): the VM a VMM holds. Built from the scenario
 * (vm/build.ts: shared memory, KVM's parameters and caps, the workload's
 * devices), run once (vm/run.ts: the threads started, supervised, stopped;
 * vm/collect.ts: their results, partial or not), and controlled while it runs
 * (this file: stop, pause, live counters, trace, fault injection).
 */

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

export type VmOptions = VmBuildOptions;

export class Vm {
  readonly mem: SharedMemory;
  private readonly built: BuiltVm;
  private runningSince = 0;
  private readonly slots: ActorSlots;
  private readonly iothreads: number;
  private readonly collector: TraceCollector | null;
  private span = { t0: 0, t1: 0 };

  constructor(
    readonly scenario: Scenario,
    opts: VmOptions = {},
  ) {
    this.built = buildVm(scenario, opts);
    ({ mem: this.mem, slots: this.slots, iothreads: this.iothreads, collector: this.collector } = this.built);
  }

  get stopRequested(): boolean {
    return this.mem.record(VMM, 0).load('stop') !== 0;
  }

  /** Ask every actor to stop: the VMM's stop event then a signal to each vCPU thread; the host's stop word. */
  requestStop(): void {
    const mem = this.mem;
    const vmm = mem.record(VMM, 0);
    vmm.store('stop', 1);
    vmm.notify('stop'); // I/O threads sleep on it
    vmm.notify('paused'); // and, in a paused VM, every thread waits on this
    for (let i = 0; i < this.iothreads; i++) aioNotify(mem.record(AIO, i)); // an I/O thread asleep in aio_poll
    workWakeWorkers(mem.record(WORK_QUEUE, 0), Infinity); // workqueue threads asleep on the queue
    for (let i = 0; i < this.scenario.vm.vcpus; i++) {
      vmmSignalVcpu(vcpuRecords(mem, i));
      irqfdResampleInterrupt(vcpuRecords(mem, i)); // an I/O thread waiting for an EOI
    }
    const host = mem.record(HOST, 0);
    host.store('stop', 1);
    host.wake('doorbell');
  }

  // --- What a VMM (or an administrator) can change while the VM runs ---

  /** Write kvm module parameters (/sys/module/kvm/parameters/*): every vCPU reads them at its next halt. */
  setKvmParams(params: Partial<KvmParams>): void {
    writeKvmParams(this.mem.record(KVM, 0), params);
  }

  /** KVM_ENABLE_CAP(KVM_CAP_HALT_POLL): allowed at any time; there is no way back to the global parameter. */
  enableCapHaltPoll(maxNs: number): void {
    enableCapHaltPoll(this.mem.record(KVM, 0), maxNs);
  }

  get paused(): boolean {
    return this.mem.record(VMM, 0).load('paused') !== 0;
  }

  /** Stop the VM as QEMU's `stop` does: kick every vCPU out to the VMM, where it waits; devices hold their interrupts. */
  pause(): void {
    this.mem.record(VMM, 0).store('paused', 1);
    for (let i = 0; i < this.scenario.vm.vcpus; i++) vmmSignalVcpu(vcpuRecords(this.mem, i));
  }

  resume(): void {
    const vmm = this.mem.record(VMM, 0);
    vmm.store('paused', 0);
    vmm.notify('paused');
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
      for (let i = 0; i < this.scenario.vm.vcpus; i++) total += this.mem.record(VCPU_STAT, i).load(name);
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
    const vcpu = vcpuRecords(this.mem, Number(m[1]));
    const mode = Object.entries(MODE).find(([, x]) => x === vcpu.block.load('mode'))?.[0] ?? '?';
    return `vCPU state ${RUN_STATE_NAMES[runStateOf(vcpu.thread)]}, vcpu->mode ${mode}, pending lines 0x${vcpu.block.load('irr').toString(16)}`;
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
    this.mem.record(FAULTS, slot).store('kind', f.kind === 'throw' ? FAULT_WORD.THROW : FAULT_WORD.HANG);
    // Wake the actor so that it reaches a loop point.
    if (f.actor.startsWith('vcpu')) vmmSignalVcpu(vcpuRecords(this.mem, slot - this.slots.vcpu(0)));
    this.mem.record(HOST, 0).wake('doorbell');
    this.mem.record(VMM, 0).notify('stop');
    for (let i = 0; i < this.scenario.vm.vcpus; i++) irqfdResampleInterrupt(vcpuRecords(this.mem, i));
  }

  async run(opts: RunOptions = {}): Promise<RunResult> {
    const control: RunControl = {
      requestStop: () => this.requestStop(),
      doing: (a) => this.doing(a),
      inject: (f, actors, warnings) => this.inject(f, actors, warnings),
      started: (t0) => (this.runningSince = t0),
      ended: (span) => (this.span = span),
    };
    const w = this.scenario.workload;
    if (workloadModule(w).withoutVm?.(w)) return runBareMetal(this.built, control, opts);
    const names = this.actorNames();
    for (const f of opts.faults ?? []) {
      if (!names.includes(f.actor)) throw new ScenarioError([`no actor "${f.actor}" in this VM: it has ${names.join(', ')}`], '--fault', 'invalid fault');
    }
    return runVm(this.built, control, opts);
  }
}

export function createVm(scenario: Scenario, opts: VmOptions = {}): Vm {
  return new Vm(scenario, opts);
}
