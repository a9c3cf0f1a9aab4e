import { getHeapStatistics } from 'node:v8';
import { serveActor, type ActorStart } from '../actors/actor.ts';
import { now } from '../actors/clock.ts';
import { threadCpuNs, threadId } from '../actors/cpu-time.ts';
import { checkFault, type FaultRecord } from '../host/faults.ts';
import { futexWait } from '../actors/futex.ts';
import { SharedMemory } from '../actors/shared-memory.ts';
import { runVcpuStateMachine, type VcpuEmulation, type VcpuEmulator } from '../host/vmm/vcpu-state-machine.ts';
import type { VmmRecord } from '../host/vmm/vmm-state.ts';
import { RunControl, VCPU_PHASE, type KvmThreadRecord } from './control.ts';
import { EINTR, libc, SyscallError, type Libc } from './libc.ts';
import { exitReasonName, IOCTL, KVM_EXIT, KVM_RUN_OFFSET } from './uapi.ts';
import { GUEST_SYMBOLS as G } from './guest/image.ts';

/**
 * A vCPU thread of the real-KVM backend, the VMM's half as QEMU's kvm_cpu_exec: the model's vCPU
 * state machine (host/vmm/vcpu-state-machine.ts) over the kernel's KVM_RUN. The guest halts and wakes inside KVM_RUN (in-kernel irqchip: kvm_vcpu_halt with KVM's own
 * polling), so KVM_RUN returns only when kicked: the main thread sets kvm_run->immediate_exit and
 * sends SIGUSR2 to this thread, so the kick lands whether the thread is inside KVM_RUN (-EINTR)
 * or about to enter it (immediate_exit makes it return at once). An OUT to the debug port is
 * counted and the guest re-entered (the exit-rate calibration's guest does nothing else); any
 * other exit is a guest that did what this one never does, and stops the run with its reason.
 */

export interface KvmVcpuThreadConfig {
  id: number;
  fd: number;
  /** The kvm_run page, mapped by the main thread (an address in this process). */
  run: bigint;
  runSize: number;
  koffi: string;
}

export interface KvmVcpuThreadSnapshot {
  id: number;
  thread_cpu_ns: number;
  wall_ns: number;
  /** Time outside KVM_RUN: the VMM's side of each return, and any pause. */
  vmm_ns: number;
  paused_ns: number;
  /** KVM_RUN calls, those that returned -EINTR (kicks), and KVM_EXIT_IO returns for the debug port. */
  kvm_runs: number;
  kicks: number;
  debug_port_exits: number;
  heap_used_bytes: number;
}

const KVM_RUN_IOCTL = IOCTL.KVM_RUN;
const EXIT_REASON = KVM_RUN_OFFSET.exit_reason;
const IO_PORT = KVM_RUN_OFFSET.io_port;
const KVM_EXIT_IO = KVM_EXIT.KVM_EXIT_IO;


/**
 * One KVM_RUN on /dev/kvm and what the VMM makes of it: -EINTR is a kick (interrupted), the debug
 * port's exits are re-entered inside the ioctl loop, anything else is a guest doing what this one
 * never does.
 */
class KernelVcpu implements VcpuEmulator {
  readonly snap: KvmVcpuThreadSnapshot;
  /** When KVM_RUN last returned. */
  out = now();
  private readonly kvmRun: DataView;

  constructor(
    private readonly cfg: KvmVcpuThreadConfig,
    private readonly name: string,
    private readonly c: Libc,
    private readonly vmm: VmmRecord,
    private readonly fault: FaultRecord,
    private readonly thread: KvmThreadRecord,
  ) {
    this.kvmRun = new DataView(c.view(cfg.run, cfg.runSize));
    this.snap = { id: cfg.id, thread_cpu_ns: 0, wall_ns: 0, vmm_ns: 0, paused_ns: 0, kvm_runs: 0, kicks: 0, debug_port_exits: 0, heap_used_bytes: 0 };
  }

  runEmulation(): VcpuEmulation {
    const { snap, kvmRun, c, thread } = this;
    const fd = this.cfg.fd;
    thread.store('phase', VCPU_PHASE.in_kvm_run);
    snap.vmm_ns += now() - this.out;
    snap.kvm_runs++;
    let r: number;
    // The debug port's exits (the exit-rate guest's) are counted and the guest re-entered at once,
    // with nothing else on the way: the loop a C VMM would run, so it measures what KVM costs.
    while ((r = c.ioctlInt(fd, KVM_RUN_IOCTL, 0)) === 0 && kvmRun.getUint32(EXIT_REASON, true) === KVM_EXIT_IO && kvmRun.getUint16(IO_PORT, true) === G.DEBUG_PORT) {
      snap.debug_port_exits++;
    }
    this.out = now();
    thread.store('phase', VCPU_PHASE.in_vmm);
    this.publishTimes();
    if (r < 0) {
      const errno = c.errno();
      if (errno !== EINTR) throw new SyscallError('KVM_RUN', errno);
      kvmRun.setUint8(KVM_RUN_OFFSET.immediate_exit, 0); // the kick has been taken
      snap.kicks++;
      return 'interrupted';
    }
    const reason = kvmRun.getUint32(EXIT_REASON, true);
    const detail =
      reason === KVM_EXIT.KVM_EXIT_INTERNAL_ERROR
        ? ` (suberror ${kvmRun.getUint32(KVM_RUN_OFFSET.internal_suberror, true)})`
        : reason === KVM_EXIT.KVM_EXIT_FAIL_ENTRY
          ? ` (hardware_entry_failure_reason 0x${kvmRun.getBigUint64(KVM_RUN_OFFSET.hardware_exit_reason, true).toString(16)})`
          : reason === KVM_EXIT.KVM_EXIT_IO
            ? ` (port 0x${kvmRun.getUint16(KVM_RUN_OFFSET.io_port, true).toString(16)})`
            : '';
    throw new Error(`KVM_RUN returned ${exitReasonName(reason)}${detail}; haltlab's guest never exits to userspace`);
  }

  stopRequested(): boolean {
    return this.vmm.load('stop') !== 0;
  }

  pauseRequested(): boolean {
    return this.vmm.load('paused') !== 0;
  }

  checkFault(): void {
    checkFault(this.fault, this.name, 'handling KVM_EXIT_INTR in the VMM');
  }

  /** QEMU's pause_all_vcpus: the vCPU waits in the VMM until resumed. */
  waitWhilePaused(): void {
    const { vmm } = this;
    this.thread.store('phase', VCPU_PHASE.paused);
    const p0 = now();
    while (vmm.load('paused') && !vmm.load('stop')) futexWait(vmm.i32, vmm.I.paused, 1);
    this.snap.paused_ns += now() - p0;
    this.out = now(); // the pause is not the VMM's time
    this.publishTimes();
  }

  publishTimes(): void {
    this.thread.set('vmm_ns', this.snap.vmm_ns);
    this.thread.set('paused_ns', this.snap.paused_ns);
  }
}

export type KvmVcpuThreadApi = ReturnType<typeof makeVcpuThread>;

function makeVcpuThread(start: ActorStart<KvmVcpuThreadConfig>) {
  const cfg = start.config;
  const ctl = new RunControl(new SharedMemory(start.sab, start.layout));
  const vcpu = new KernelVcpu(cfg, start.name, libc(cfg.koffi), ctl.vmm, ctl.fault(cfg.id), ctl.own(cfg.id));
  const { snap } = vcpu;

  return {
    /** Publishes this thread's kernel thread id: kicks go to it. */
    ready(): boolean {
      ctl.publishThread(cfg.id, threadId());
      return true;
    },
    run(): void {
      const cpu0 = threadCpuNs();
      const t0 = now();
      vcpu.out = t0;
      try {
        // A stop or a pause before the first KVM_RUN is a kick too: immediate_exit makes it return at once.
        runVcpuStateMachine(vcpu);
      } finally {
        ctl.own(cfg.id).store('phase', VCPU_PHASE.stopped);
        const t1 = now();
        snap.vmm_ns += t1 - vcpu.out;
        snap.wall_ns = t1 - t0;
        snap.thread_cpu_ns = threadCpuNs() - cpu0;
      }
    },
    snapshot(): KvmVcpuThreadSnapshot {
      return { ...snap, heap_used_bytes: getHeapStatistics().used_heap_size };
    },
  };
}

serveActor(makeVcpuThread);
