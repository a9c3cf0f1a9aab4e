import { readFileSync } from 'node:fs';
import { spawnActor, type Actor } from '../actors/actor.ts';
import { now } from '../actors/clock.ts';
import { decodeLatency, logBuckets, mergeLatency, summarize } from '../actors/histogram.ts';
import type { EncodedLatency } from '../actors/latency-recorder.ts';
import { LIVE_BUCKETS, liveBucket } from '../actors/live-histogram.ts';
import { supervise, type RunOutcome } from '../actors/supervisor.ts';
import { haltlabVersion, machineFacts, type KvmRunResult, type KvmVcpuResult } from '../host/results.ts';
import { ScenarioError, type Scenario } from '../scenarios/schema.ts';
import { RunControl, VCPU_PHASE_NAMES } from './control.ts';
import type { KvmDeviceThreadApi, KvmDeviceThreadConfig, KvmDeviceThreadSnapshot } from './device-thread.ts';
import { VcpuSamples } from './guest-rings.ts';
import { HALT_POLL_CAP, probeHostKvm, REQUIRED_CAPS, verdict, type HostKvm } from './host-kvm.ts';
import { KvmVm } from './kvm-vm.ts';
import { installKickHandler, koffiPath, libc, SIG_KICK_NUMBER, type Libc } from './libc.ts';
import { FAULT_WORD, FAULTS, type FaultSpec } from '../host/faults.ts';
import { kvmHaltPollCap, kvmRefusals } from './scenario-support.ts';
import { mapTsc } from './tsc.ts';
import { KVM_RUN_OFFSET } from './uapi.ts';
import type { KvmVcpuThreadApi, KvmVcpuThreadConfig, KvmVcpuThreadSnapshot } from './vcpu-thread.ts';
import { GUEST_SYMBOLS as G } from './guest/image.ts';
import type { RunOptions } from '../host/vm.ts';

/**
 * A scenario on /dev/kvm: the same actors as the model's run (a thread per vCPU, an I/O thread
 * for the device), except that each vCPU thread blocks in ioctl(KVM_RUN), the guest is real x86
 * code (guest/guest.S), and the statistics come from KVM's binary stats fd. The result has the
 * model's shape and keys, `backend: "kvm"`; what only the model has is null.
 */

const VCPU_MODULE = new URL('./vcpu-thread.ts', import.meta.url);
const DEVICE_MODULE = new URL('./device-thread.ts', import.meta.url);
const DRAIN_MS = 20;
const BOOT_TIMEOUT_NS = 10e9;

/** Refuse what cannot run, before anything starts: no usable /dev/kvm, or knobs real KVM cannot apply. */
export function checkKvmScenario(s: Scenario, host: HostKvm = probeHostKvm()): HostKvm {
  if (!host.usable) throw new ScenarioError([`${verdict(host)}`, ...host.problems.slice(1), 'haltlab kvm tells what this machine has; everything else runs on --backend model'], '--backend kvm', 'real KVM is not available');
  const refusals = kvmRefusals(s, host);
  if (kvmHaltPollCap(s) !== null && !host.caps[HALT_POLL_CAP.cap]) refusals.push(`host.kvm.halt_poll_ns: ${HALT_POLL_CAP.cap} is missing here, needed for ${HALT_POLL_CAP.why}`);
  if (refusals.length) throw new ScenarioError(refusals, `--backend kvm, scenario ${s.name}`, 'real KVM cannot run this as asked');
  return host;
}

const hasTimer = (s: Scenario): number => {
  const w = s.workload;
  return w.kind === 'timer-latency' || w.kind === 'mixed' ? w.delta_ns : w.kind === 'idle-tick' ? w.tick_ns : 0;
};
const hasDevice = (s: Scenario) => s.workload.kind === 'irq-wake' || s.workload.kind === 'mixed';

/** Busy and total jiffies of the whole machine (/proc/stat), for the busy share over a run. */
function machineJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - (f[4] ?? 0), total };
}

export interface KvmRunOptions {
  /**
   * A lost wakeup: a device interrupt not EOI'd, or a guest timer not fired, for this long (the
   * timer's bound is at least 100 of its periods). The run stops and fails with the reason.
   */
  lostWakeupMs?: number;
}

/** The default bound for a lost wakeup: long enough for an emulated or overloaded machine. */
const LOST_WAKEUP_MS = 10_000;

/** Live handles on a running real-KVM VM: pause/resume and its counters (the demo, the progress line). */
export class KvmRun {
  private ctl: RunControl | null = null;
  private vm: KvmVm | null = null;
  private c: Libc | null = null;
  private runningSince = 0;
  private readonly wakeLive: Float64Array[];
  private readonly names: string[];

  constructor(
    readonly scenario: Scenario,
    private readonly options: KvmRunOptions = {},
  ) {
    this.wakeLive = Array.from({ length: scenario.vm.vcpus }, () => new Float64Array(LIVE_BUCKETS));
    this.names = [...Array.from({ length: scenario.vm.vcpus }, (_, i) => `vcpu${i}`), ...(hasDevice(scenario) ? ['iothread0'] : [])];
  }

  elapsedS(): number {
    return this.runningSince ? (now() - this.runningSince) / 1e9 : 0;
  }

  /** KVM's counters summed over the vCPUs, read from the stats fds while the run goes on. */
  stats(): Record<string, number>[] {
    return (this.vm?.vcpus ?? []).map((v) => {
      const all = v.stats.read();
      return Object.fromEntries(Object.entries(all).filter((e): e is [string, number] => typeof e[1] === 'number'));
    });
  }

  /** Per vCPU, the wake-latency samples read out of the guest so far, as live-histogram buckets. */
  wakeBuckets(): Float64Array[] {
    return this.wakeLive;
  }

  /** Every thread of the run as it is now: its kernel thread id, and (vCPUs) its time outside KVM_RUN and paused. */
  threads(): { name: string; kind: 'vcpu' | 'iothread'; tid: number; vmm_ns: number; paused_ns: number }[] {
    const ctl = this.ctl;
    if (!ctl) return [];
    return this.names.map((name, slot) => ({ name, kind: name.startsWith('vcpu') ? 'vcpu' : 'iothread', tid: ctl.thread(slot), ...ctl.times(slot) }));
  }

  /** KVM_ENABLE_CAP(KVM_CAP_HALT_POLL) on the running VM: what a VMM can change while it runs. */
  enableCapHaltPoll(ns: number): void {
    this.vm?.enableCapHaltPoll(ns);
  }

  /** vCPU n's stats fd as bytes, header to data (test/real-kvm/fixtures/record-vcpu-stats.ts). */
  statsBytes(n: number): Buffer | null {
    return this.vm?.vcpus[n]?.stats.bytes() ?? null;
  }

  get paused(): boolean {
    return this.ctl?.paused ?? false;
  }

  pause(): void {
    if (!this.ctl) return;
    this.ctl.vmm.store('paused', 1);
    this.kickAll();
  }

  resume(): void {
    if (!this.ctl) return;
    this.ctl.vmm.store('paused', 0);
    this.ctl.vmm.notify('paused');
  }

  /** QEMU's qemu_cpu_kick for KVM: immediate_exit first, then the signal, so neither order loses it. */
  private kick(id: number): void {
    const { vm, ctl, c } = this;
    if (!vm || !ctl || !c) return;
    new DataView(c.view(vm.vcpus[id].run, vm.runSize)).setUint8(KVM_RUN_OFFSET.immediate_exit, 1);
    const tid = ctl.thread(id);
    if (tid) c.tgkill(process.pid, tid, SIG_KICK_NUMBER);
  }

  private kickAll(): void {
    for (const v of this.vm?.vcpus ?? []) this.kick(v.id);
  }

  /** Carry out an injected fault (src/host/faults.ts): through the thread's fault word, or by terminating its worker. */
  private inject(f: FaultSpec, actors: Actor<unknown>[], warnings: string[]): void {
    const { ctl } = this;
    const slot = actors.findIndex((a) => a.name === f.actor);
    if (!ctl || slot < 0) return;
    warnings.push(`fault injected: ${f.kind} ${f.actor} at ${this.elapsedS().toFixed(2)} s`);
    const vcpu = /^vcpu(\d+)$/.exec(f.actor);
    if (f.kind === 'terminate') {
      // Terminating takes effect when the thread returns to JavaScript: kick it out of KVM_RUN after asking.
      void actors[slot].worker.terminate();
      if (vcpu) this.kick(Number(vcpu[1]));
      return;
    }
    ctl.fault(slot).store('kind', f.kind === 'throw' ? FAULT_WORD.THROW : FAULT_WORD.HANG);
    if (vcpu) this.kick(Number(vcpu[1])); // the vCPU thread checks its fault word after each kick
  }

  private requestStop(): void {
    const { vm, ctl, c } = this;
    if (!ctl) return;
    ctl.vmm.store('stop', 1);
    ctl.vmm.notify('stop');
    ctl.vmm.notify('paused');
    this.kickAll();
    // The device thread may be in poll() on a resamplefd: make it readable.
    const one = Buffer.alloc(8);
    one.writeBigUInt64LE(1n);
    if (vm && c) for (const v of vm.vcpus) if (v.resamplefd >= 0) c.write(v.resamplefd, one, 8);
  }

  async run(opts: RunOptions = {}): Promise<KvmRunResult> {
    const s = this.scenario;
    const host = checkKvmScenario(s);
    const names = this.names;
    for (const f of opts.faults ?? []) {
      if (!names.includes(f.actor)) throw new ScenarioError([`no actor "${f.actor}" in this VM: it has ${names.join(', ')}`], '--fault', 'invalid fault');
    }
    const c = (this.c = libc());
    installKickHandler();
    const startedAt = new Date().toISOString();
    const spawnedAt = now();
    const haltPollNs = kvmHaltPollCap(s);
    const tsc = mapTsc(c);
    const delta = hasTimer(s);
    const vm = (this.vm = new KvmVm(c, { vcpus: s.vm.vcpus, haltPollNs, timerDeltaNs: delta, devices: hasDevice(s) }));
    const warnings: string[] = [];
    let actors: Actor<KvmVcpuThreadApi | KvmDeviceThreadApi>[] = [];
    let drainTimer: NodeJS.Timeout | undefined;
    let result: KvmRunResult;
    let stoppedAt = 0;
    try {
      const nsPerCycle = 1e6 / vm.tscKhz;
      const ctl = (this.ctl = RunControl.allocate(names.length));
      const koffi = koffiPath();
      const vcpuThreads = vm.vcpus.map((v) =>
        spawnActor<KvmVcpuThreadApi>(VCPU_MODULE, {
          name: `vcpu${v.id}`,
          sab: ctl.mem.sab,
          layout: ctl.mem.layout,
          config: { id: v.id, fd: v.fd, run: v.run, runSize: vm.runSize, koffi } satisfies KvmVcpuThreadConfig,
        }),
      );
      const w = s.workload;
      const device =
        w.kind === 'irq-wake' || w.kind === 'mixed'
          ? spawnActor<KvmDeviceThreadApi>(DEVICE_MODULE, {
              name: 'iothread0',
              sab: ctl.mem.sab,
              layout: ctl.mem.layout,
              config: {
                vcpus: vm.vcpus.map((v) => ({ irqfd: v.irqfd, resamplefd: v.resamplefd, segment: v.segment })),
                gap_ns: w.gap_ns,
                jitter: w.jitter,
                seed: w.seed,
                koffi,
                slot: s.vm.vcpus,
                lost_after_ms: this.options.lostWakeupMs ?? LOST_WAKEUP_MS,
              } satisfies KvmDeviceThreadConfig,
            })
          : undefined;
      actors = [...vcpuThreads, ...(device ? [device] : [])];
      const samples = vm.vcpus.map(
        (v) =>
          new VcpuSamples(c.view(v.segment, 0x10000), nsPerCycle, (ns) => {
            this.wakeLive[v.id][liveBucket(ns)]++;
          }),
      );

      let outcome: RunOutcome;
      let t0 = now();
      let t1 = t0;
      const tscAtStart = tsc.read();
      const jiffies0 = machineJiffies();
      let stalled: string | null = null;
      try {
        await Promise.all(actors.map((a) => a.call(a.api.ready())));
        t0 = this.runningSince = now();
        const faultTimers = (opts.faults ?? []).map((f) => setTimeout(() => this.inject(f, actors, warnings), f.at_s * 1000));
        // Read the guest's samples while it runs: off the vCPUs' path, often enough that no ring fills.
        // A timer that stops firing once its guest is up is a lost wakeup; a guest that never comes up, a broken VM.
        const stallNs = Math.max((this.options.lostWakeupMs ?? LOST_WAKEUP_MS) * 1e6, 100 * delta);
        drainTimer = setInterval(() => {
          const at = now();
          samples.forEach((x, i) => {
            x.drain(at);
            if (stalled || this.paused) return;
            if (!x.up && at - t0 > BOOT_TIMEOUT_NS) stalled = `vcpu${i}'s guest did not start within ${BOOT_TIMEOUT_NS / 1e9} s`;
            else if (delta && x.up && at - x.lastTimerAdvance > stallNs) {
              stalled = `vcpu${i}'s timer has not fired for ${((at - x.lastTimerAdvance) / 1e9).toFixed(1)} s (re-armed every ${delta} ns): a lost timer interrupt`;
            }
          });
          if (stalled) this.requestStop();
        }, DRAIN_MS);
        outcome = await supervise(actors, {
          durationMs: opts.durationMs ?? s.duration_s * 1000,
          requestStop: () => this.requestStop(),
          signal: opts.signal,
          doing: (name) => {
            const m = /^vcpu(\d+)$/.exec(name);
            return m ? `vCPU thread ${VCPU_PHASE_NAMES[ctl.phase(Number(m[1]))]}` : 'raising or waiting for an EOI';
          },
        });
        t1 = now();
        faultTimers.forEach(clearTimeout);
      } catch (e) {
        this.requestStop();
        t1 = now();
        const err = e as { actor?: string; message: string; actorStack?: string; stack?: string };
        outcome = { status: 'failed', failure: { actor: err.actor ?? 'vm', message: err.message, stack: err.actorStack ?? err.stack }, stuck: actors.map((a) => a.name) };
      }
      clearInterval(drainTimer);
      const jiffies1 = machineJiffies();
      const tscAtEnd = tsc.read();
      const at = now();
      for (const x of samples) x.drain(at);
      if (stalled && outcome.status !== 'failed') outcome = { status: 'failed', failure: { actor: 'vm', message: stalled } };

      const snap = async <T>(a: Actor<{ snapshot(): T }>): Promise<T | undefined> => {
        try {
          return await Promise.race([a.call(Promise.resolve(a.api.snapshot() as Promise<T>)), new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000).unref())]);
        } catch (e) {
          warnings.push(`${a.name}'s results are lost: ${(e as Error).message}`);
          return undefined;
        }
      };
      const vcpuSnaps = await Promise.all(vcpuThreads.map((a) => snap<KvmVcpuThreadSnapshot>(a)));
      const deviceSnap = device ? await snap<KvmDeviceThreadSnapshot>(device) : undefined;
      const stats = vm.vcpus.map((v) => v.stats.read());

      // One timebase: each guest's TSC at boot must lie within the host's run.
      vm.vcpus.forEach((v) => {
        const boot = Number(new DataView(c.view(v.segment, 0x40)).getBigUint64(G.CB_BOOT_TSC, true));
        if (boot && (boot < tscAtStart || boot > tscAtEnd)) {
          const msg = `vcpu${v.id}'s guest TSC (${boot}) is not the host's (${tscAtStart}..${tscAtEnd}): device wake latencies would be meaningless`;
          if (hasDevice(s) && outcome.status !== 'failed') outcome = { status: 'failed', failure: { actor: `vcpu${v.id}`, message: msg } };
          else warnings.push(msg);
        }
      });
      for (const [i, x] of samples.entries()) {
        if (x.timer.lost || x.device.lost) warnings.push(`vcpu${i}: ${x.timer.lost + x.device.lost} samples were overwritten in the guest's ring before the host read them`);
      }
      const wallS = (t1 - t0) / 1e9;
      stoppedAt = t1;
      const vcpus: KvmVcpuResult[] = vm.vcpus.map((v, i) => vcpuResult(v.id, stats[i], samples[i], vcpuSnaps[i]));
      const present = vcpus.filter((v) => v.cpu.wall_s > 0);
      const busyPct = jiffies1.total > jiffies0.total ? (100 * (jiffies1.busy - jiffies0.busy)) / (jiffies1.total - jiffies0.total) : 0;
      const merge = (pick: (x: VcpuSamples) => EncodedLatency) => mergeLatency(samples.map(pick));
      const lateness = merge((x) => x.timerLateness.encode());
      const threads = [
        ...vcpuSnaps.flatMap((v) => (v ? [{ thread: `vcpu${v.id}`, cpu_s: v.thread_cpu_ns / 1e9, wall_s: v.wall_ns / 1e9, heap_bytes: v.heap_used_bytes }] : [])),
        ...(deviceSnap ? [{ thread: 'iothread0', cpu_s: deviceSnap.thread_cpu_ns / 1e9, wall_s: deviceSnap.wall_ns / 1e9, heap_bytes: 0 }] : []),
      ];
      result = {
        haltlab: { version: haltlabVersion() },
        backend: 'kvm',
        machine: {
          ...machineFacts(null),
          kvm: {
            kernel: host.kernel,
            vendor_module: host.vendor_module,
            api_version: host.api_version,
            module_params: Object.fromEntries(Object.entries(host.module_params).map(([k, p]) => [k, p.value])),
            caps_used: [...REQUIRED_CAPS.map((r) => r.cap), ...(haltPollNs !== null ? [HALT_POLL_CAP.cap] : [])],
            tsc_khz: vm.tscKhz,
          },
        },
        started_at: startedAt,
        status: outcome.status,
        failure: outcome.failure ?? null,
        warnings,
        scenario: s,
        wall_s: wallS,
        phases: { startup_s: (t0 - spawnedAt) / 1e9, teardown_s: 0 },
        vcpus,
        total: {
          wake_latency_ns: summarize(merge((x) => x.wake.encode())),
          timer_lateness_ns: summarize(lateness),
          timer_lateness_hist: logBuckets(lateness),
          host_cpu_pct_per_vcpu: present.length ? present.reduce((a, v) => a + v.cpu.host_cpu_pct, 0) / present.length : 0,
          util_error_abs_mean: null,
          deep_idle_pct: null,
        },
        host: null,
        kvm: {
          halt_poll_cap_ns: haltPollNs,
          machine_busy_pct: busyPct,
          guest_handler_ns: summarize(merge((x) => x.handler.encode())),
          ...(deviceSnap && { device_interrupts_raised: deviceSnap.raised, device_eois: deviceSnap.eois }),
        },
        threads,
      };
    } finally {
      clearInterval(drainTimer);
      // Terminating a vCPU thread takes effect when it returns from KVM_RUN: kick until every thread is gone.
      const kicking = setInterval(() => this.kickAll(), 50);
      await Promise.all(actors.map((a) => a.terminate()));
      clearInterval(kicking);
      // After the threads: nothing may touch guest RAM or a kvm_run page once they are unmapped.
      this.ctl = null;
      this.vm = null;
      vm.close();
      tsc.unmap();
    }
    result.phases.teardown_s = (now() - stoppedAt) / 1e9;
    return result;
  }
}

/** Exit reasons KVM counts in a statistic of its own (the rest it does not break down). */
const EXIT_REASON_STATS = { HLT: 'halt_exits', EXTERNAL_INTERRUPT: 'irq_exits', IO_INSTRUCTION: 'io_exits', INTERRUPT_WINDOW: 'irq_window_exits' } as const;

function vcpuResult(id: number, stats: Record<string, number | number[]>, x: VcpuSamples, snap: KvmVcpuThreadSnapshot | undefined): KvmVcpuResult {
  const num = (k: string) => (typeof stats[k] === 'number' ? (stats[k] as number) : 0);
  const wall = (snap?.wall_ns ?? 0) / 1e9;
  const cpu = (snap?.thread_cpu_ns ?? 0) / 1e9;
  // Where the vCPU thread's time went, from KVM's own accounting of its halts.
  const polling = (num('halt_poll_success_ns') + num('halt_poll_fail_ns')) / 1e9;
  const blocked = num('halt_wait_ns') / 1e9;
  const vmm = (snap?.vmm_ns ?? 0) / 1e9;
  const paused = (snap?.paused_ns ?? 0) / 1e9;
  const timer = x.timerLateness;
  return {
    id,
    stats,
    exit_reasons: Object.fromEntries(Object.entries(EXIT_REASON_STATS).filter(([, k]) => k in stats).map(([r, k]) => [r, num(k)])),
    wake_latency_ns: summarize(decodeLatency(x.wake.encode())),
    timer_lateness_ns: summarize(decodeLatency(timer.encode())),
    timer_early_count: timer.negative,
    cpu: {
      thread_cpu_s: cpu,
      wall_s: wall,
      host_cpu_pct: wall > 0 ? (100 * cpu) / wall : 0,
      state_s: { guest: Math.max(0, wall - polling - blocked - vmm - paused), polling, blocked, vmm, ...(paused > 0 && { paused }) },
    },
    kvm: {
      kvm_runs: snap?.kvm_runs ?? 0,
      kicks: snap?.kicks ?? 0,
      guest_handler_ns: summarize(decodeLatency(x.handler.encode())),
      samples_lost: x.timer.lost + x.device.lost,
    },
  };
}
