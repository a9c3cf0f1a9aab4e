import { serveActor, type ActorStart } from '../actors/actor.ts';
import { now } from '../actors/clock.ts';
import { LatencyRecorder, type EncodedLatency } from '../actors/histogram.ts';
import { SharedMemory } from '../actors/shared-memory.ts';
import { RUN_STATE } from './kvm/vcpu-state.ts';
import { VM_I } from './layout.ts';
import { checkFault, FAULTS_REGION } from './faults.ts';
import { ThreadAccounting, type ThreadCost } from './thread-state.ts';
import type { BlockBackendConfig } from './vmm/block-backend.ts';
import { BlockWriter } from './vmm/block-writer.ts';

/**
 * dsync-io on bare metal: the guest's loop with no VM under it, as `dd
 * oflag=dsync` on the host. Each thread writes a block and waits for it in
 * the write itself (the kernel's own block-and-wake), then writes the next:
 * no exits, no I/O thread, no thread pool. The floor the seed compares with.
 */

export interface BareMetalConfig {
  backend: BlockBackendConfig;
  slot: number;
}

export interface BareMetalSnapshot extends ThreadCost {
  requests: number;
  io_latency: EncodedLatency;
  /** The device's own service time per write (for the synthetic device, its spin is in this thread's CPU). */
  service: EncodedLatency;
  service_spin_ns: number;
}

export type BareMetalApi = ReturnType<typeof makeBareMetal>;

function makeBareMetal(start: ActorStart<BareMetalConfig>) {
  const mem = new SharedMemory(start.sab, start.layout);
  const cfg = start.config;
  const vmm = mem.record('vmm', 0);
  const thread = new ThreadAccounting(mem, cfg.slot);
  const fault = mem.record(FAULTS_REGION, cfg.slot);
  const writer = new BlockWriter(cfg.backend);
  const latency = new LatencyRecorder();
  const service = new LatencyRecorder();
  let serviceSpinNs = 0;
  let requests = 0;

  return {
    ready: () => true,
    run(): void {
      thread.start(RUN_STATE.GUEST);
      try {
        while (Atomics.load(vmm.i32, VM_I.stop) === 0) {
          checkFault(fault, start.name, 'between writes');
          const begin = now();
          thread.enter(RUN_STATE.BLOCKED, begin); // in the write: the kernel blocks the thread
          const served = writer.write(writer.nextOffset());
          const end = now();
          service.record(served.service_ns);
          serviceSpinNs += served.spin_ns;
          thread.enter(RUN_STATE.GUEST, end);
          latency.record(end - begin);
          requests++;
        }
      } finally {
        writer.close();
        thread.stop();
      }
    },
    snapshot(): BareMetalSnapshot {
      return { requests, io_latency: latency.encode(), service: service.encode(), service_spin_ns: serviceSpinNs, ...thread.cost() };
    },
  };
}

serveActor(makeBareMetal);
