import { serveActor, type ActorStart } from '../actors/actor.ts';
import { now } from '../actors/clock.ts';
import { setThreadTimerSlackNs, threadCpuNs, threadId } from '../actors/cpu-time.ts';
import { futexWait } from '../actors/futex.ts';
import { prng } from '../actors/prng.ts';
import { SharedMemory } from '../actors/shared-memory.ts';
import { RunControl } from './control.ts';
import { libc } from './libc.ts';
import { mapTsc } from './tsc.ts';
import { checkFault } from '../host/faults.ts';
import { GUEST_SYMBOLS as G } from './guest/image.ts';

/**
 * The irq-wake device of the real-KVM backend, on a VMM I/O thread: the model's irq-source
 * (src/host/vmm/irq-source.ts) with KVM's own plumbing. It sleeps a random gap, stamps its TSC into
 * the next vCPU's control block, raises that vCPU's line by writing its irqfd (KVM injects from
 * the write: the interrupt is pending when write() returns), then sleeps in poll() on the
 * resamplefd until the guest's EOI, so one interrupt is in flight at a time and every sample is
 * the wakeup of an idle vCPU. An EOI that does not come within LOST_AFTER_MS is a lost wakeup and
 * stops the run.
 */

export interface KvmDeviceThreadConfig {
  vcpus: { irqfd: number; resamplefd: number; segment: bigint }[];
  gap_ns: number;
  jitter: number;
  seed: number;
  koffi: string;
  /** This thread's fault word (after the vCPUs'). */
  slot: number;
  /** An EOI that takes longer than this is a lost wakeup: the run stops. */
  lost_after_ms: number;
}

export interface KvmDeviceThreadSnapshot {
  raised: number;
  eois: number;
  thread_cpu_ns: number;
  wall_ns: number;
}

/** As long as the main thread gives a guest to come up (run.ts), so the main thread's message is the one seen. */
const BOOT_TIMEOUT_MS = 12_000;
const POLL_SLICE_MS = 100;

export type KvmDeviceThreadApi = ReturnType<typeof makeDeviceThread>;

function makeDeviceThread(start: ActorStart<KvmDeviceThreadConfig>) {
  const cfg = start.config;
  const ctl = new RunControl(new SharedMemory(start.sab, start.layout));
  const vmm = ctl.vmm;
  const fault = ctl.fault(cfg.slot);
  const c = libc(cfg.koffi);
  const random = prng(cfg.seed);
  const one = Buffer.alloc(8);
  one.writeBigUInt64LE(1n);
  const drain = Buffer.alloc(8);
  const guest = cfg.vcpus.map((v) => new Int32Array(c.view(v.segment, 0x40)));
  const cost = { thread_cpu_ns: 0, wall_ns: 0 };
  let raised = 0;
  let eois = 0;
  const stopping = () => vmm.load('stop') !== 0;
  const sleepUntil = (deadline: number) => {
    for (let t = now(); t < deadline && !stopping(); t = now()) futexWait(vmm.i32, vmm.I.stop, 0, deadline - t);
  };

  return {
    /** Publishes this thread's kernel thread id (the live view reads its CPU time by it). */
    ready(): boolean {
      ctl.publishThread(cfg.slot, threadId());
      return true;
    },
    run(): void {
      setThreadTimerSlackNs(1);
      const tsc = mapTsc(c);
      const cpu0 = threadCpuNs();
      const t0 = now();
      try {
        // Raise nothing before a guest can take it: its first sti comes after its APIC is set up.
        const bootDeadline = now() + BOOT_TIMEOUT_MS * 1e6;
        for (const [id, cb] of guest.entries()) {
          while (!Atomics.load(cb, G.CB_READY / 4) && !stopping()) {
            if (now() > bootDeadline) throw new Error(`vcpu${id}'s guest did not start within ${BOOT_TIMEOUT_MS} ms`);
            sleepUntil(now() + 1e6);
          }
        }
        for (let next = 0; !stopping(); next = (next + 1) % cfg.vcpus.length) {
          sleepUntil(now() + cfg.gap_ns * (1 + cfg.jitter * (2 * random() - 1)));
          // A stopped VM's devices raise nothing (QEMU's vm_stop) until it runs again.
          while (vmm.load('paused') && !stopping()) futexWait(vmm.i32, vmm.I.paused, 1);
          if (stopping()) break;
          checkFault(fault, start.name, 'about to raise a device interrupt');
          const v = cfg.vcpus[next];
          tsc.store(v.segment + BigInt(G.CB_INJECT_TSC));
          if (c.write(v.irqfd, one, 8) !== 8) throw new Error(`writing vcpu${next}'s irqfd failed: errno ${c.errno()}`);
          raised++;
          // Until the guest EOIs it (the stop request writes the resamplefd too, to end this wait).
          const raisedAt = now();
          while (c.pollIn(v.resamplefd, POLL_SLICE_MS) <= 0) {
            if (stopping()) break;
            checkFault(fault, start.name, `waiting for vcpu${next}'s EOI`);
            if (now() - raisedAt > cfg.lost_after_ms * 1e6) throw new Error(`vcpu${next} took no EOI of its device interrupt within ${cfg.lost_after_ms} ms: a lost wakeup`);
          }
          if (stopping()) break;
          c.read(v.resamplefd, drain, 8);
          eois++;
        }
      } finally {
        cost.wall_ns = now() - t0;
        cost.thread_cpu_ns = threadCpuNs() - cpu0;
        tsc.unmap();
      }
    },
    snapshot(): KvmDeviceThreadSnapshot {
      return { raised, eois, ...cost };
    },
  };
}

serveActor(makeDeviceThread);
