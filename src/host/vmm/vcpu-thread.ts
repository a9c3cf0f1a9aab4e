import { getHeapStatistics } from 'node:v8';
import { serveActor } from '../../actors/actor.ts';
import { now } from '../../actors/clock.ts';
import { threadCpuNs } from '../../actors/cpu-time.ts';
import { futexWait } from '../../actors/futex.ts';
import { LatencyRecorder, type EncodedLatency } from '../../actors/histogram.ts';
import { SharedMemory } from '../../actors/shared-memory.ts';
import { GuestCpu } from '../../guest/interpreter.ts';
import type { GuestProgram, SampleChannel } from '../../guest/isa.ts';
import { KVM_EXIT, KvmVcpu } from '../kvm/vcpu.ts';
import { kvmIoBus } from '../kvm/ioeventfd.ts';
import { RUN_STATE, RUN_STATE_NAMES, V, VF } from '../kvm/vcpu-state.ts';
import { publishThreadId, runStatesByName } from '../thread-state.ts';
import { liveRecord } from '../../actors/live-histogram.ts';
import { Scheduler } from '../sched/scheduler.ts';
import { TF } from '../sched/task-state.ts';
import { guestRam, tracerFor, vcpuShared, VM_I, WAKE_LIVE_REGION } from '../layout.ts';
import type { PleParams } from '../kvm/ple.ts';
import { checkFault, FAULTS_REGION } from '../faults.ts';

/**
 * A vCPU thread, the VMM's half (Firecracker's vstate/vcpu): KVM_RUN in a loop,
 * handling what KVM returns to userspace. Stop arrives as an event in shared
 * memory followed by a signal (KVM_EXIT_INTR), never through the control plane.
 */

export interface VcpuThreadConfig {
  id: number;
  program: GuestProgram;
  /** kvm_intel's PLE parameters, as the module was loaded. */
  ple: PleParams;
  /** This thread's index among the VM's actors: its trace ring and its fault word. */
  slot: number;
}

export interface VcpuThreadSnapshot {
  id: number;
  wake_latency: EncodedLatency;
  timer_lateness: EncodedLatency;
  io_latency: EncodedLatency;
  spin_time: EncodedLatency;
  thread_cpu_ns: number;
  /** V8 heap in use by this thread's isolate, bytes. */
  heap_used_bytes: number;
  wall_ns: number;
  runnable_wait_ns: number;
  state_ns: Record<(typeof RUN_STATE_NAMES)[number], number>;
  halt_poll_ns: number;
  ple_window: number;
  guest_haltpoll: GuestHaltpollResult | null;
}

export interface GuestHaltpollResult {
  poll_limit_ns: number;
  polls: number;
  polls_timed_out: number;
  halts: number;
}

export type VcpuThreadApi = ReturnType<typeof makeVcpuThread>;

function makeVcpuThread(start: { sab: SharedArrayBuffer; layout: SharedMemory['layout']; config: VcpuThreadConfig }) {
  const mem = new SharedMemory(start.sab, start.layout);
  const { id, program, slot, ple } = start.config;
  const shared = vcpuShared(mem, id);
  const tracer = tracerFor(mem, slot);
  const fault = mem.record(FAULTS_REGION, slot);
  const sched = new Scheduler(mem, tracer);
  const vmm = mem.record('vmm', 0);
  const wake = new LatencyRecorder();
  const wakeLive = mem.record(WAKE_LIVE_REGION, id);
  const samples: Record<SampleChannel, LatencyRecorder> = { timer_lateness: new LatencyRecorder(), io_latency: new LatencyRecorder(), spin_time: new LatencyRecorder() };
  let cpuNs = 0;
  let wallNs = 0;

  const guest = new GuestCpu(program, id, guestRam(mem));
  const vcpus = Array.from({ length: mem.count('vcpu') }, (_, i) => (i === id ? shared : vcpuShared(mem, i)));
  const kvm = new KvmVcpu(shared, id, sched, mem.record('host', 0), mem.record('kvm', 0), guest, {
    injected: (_line, since, at) => {
      wake.record(at - since);
      liveRecord(wakeLive.i32, 0, at - since);
    },
    sample: (channel, value) => samples[channel].record(value),
  }, tracer, { ple, vcpus });
  kvm.ioBus = kvmIoBus(mem, mem.record('kvm', 0));

  return {
    ready: () => true,
    run(): void {
      publishThreadId(shared.t);
      const cpu0 = threadCpuNs();
      const t0 = now();
      kvm.setRunState(RUN_STATE.RUNNABLE, t0);
      sched.acquire(id);
      kvm.setRunState(RUN_STATE.VMM, now());
      try {
        for (;;) {
          const exit = kvm.run();
          kvm.setRunState(RUN_STATE.VMM, now());
          if (exit === KVM_EXIT.SHUTDOWN) break;
          if (exit === KVM_EXIT.INTR) {
            Atomics.store(shared.v.i32, V.signal_pending, 0); // the signal has been taken
            if (Atomics.load(vmm.i32, VM_I.stop)) break;
            checkFault(fault, `vcpu${id}`, 'handling KVM_EXIT_INTR in the VMM');
            if (Atomics.load(vmm.i32, VM_I.paused)) {
              // The VM is stopped (QEMU's pause_all_vcpus): wait in the VMM, off the pCPU, until resumed.
              sched.release(id);
              while (Atomics.load(vmm.i32, VM_I.paused) && !Atomics.load(vmm.i32, VM_I.stop)) futexWait(vmm.i32, VM_I.paused, 1);
              kvm.setRunState(RUN_STATE.RUNNABLE, now());
              sched.acquire(id);
              kvm.setRunState(RUN_STATE.VMM, now());
            }
          }
        }
      } finally {
        sched.release(id);
        const t1 = now();
        kvm.setRunState(RUN_STATE.STOPPED, t1);
        wallNs = t1 - t0;
        cpuNs = threadCpuNs() - cpu0;
      }
    },
    snapshot(): VcpuThreadSnapshot {
      return {
        id,
        wake_latency: wake.encode(),
        timer_lateness: samples.timer_lateness.encode(),
        io_latency: samples.io_latency.encode(),
        spin_time: samples.spin_time.encode(),
        thread_cpu_ns: cpuNs,
        heap_used_bytes: getHeapStatistics().used_heap_size,
        wall_ns: wallNs,
        runnable_wait_ns: sched.tasks[id].f64[TF.runnable_wait_ns],
        state_ns: runStatesByName(shared.t),
        halt_poll_ns: shared.v.f64[VF.halt_poll_ns],
        ple_window: shared.v.f64[VF.ple_window],
        guest_haltpoll: guest.haltpoll ? { poll_limit_ns: guest.haltpoll.dev.poll_limit_ns, ...guest.haltpoll.counts } : null,
      };
    },
  };
}

serveActor(makeVcpuThread);
