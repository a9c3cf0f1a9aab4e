import { getHeapStatistics } from 'node:v8';
import { serveActor, type ActorStart } from '../actors/actor.ts';
import { now } from '../actors/clock.ts';
import { threadCpuNs } from '../actors/cpu-time.ts';
import { LatencyRecorder, type EncodedLatency } from '../actors/histogram.ts';
import { SharedMemory } from '../actors/shared-memory.ts';
import { RUN_STATE } from './kvm/vcpu-state.ts';
import { VM_I } from './layout.ts';
import { checkFault, FAULTS_REGION } from './faults.ts';
import { enterRunState, publishThreadId, resetRunStates, THREAD_REGION } from './thread-state.ts';
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

export interface BareMetalSnapshot {
  requests: number;
  io_latency: EncodedLatency;
  thread_cpu_ns: number;
  heap_used_bytes: number;
  wall_ns: number;
}

export type BareMetalApi = ReturnType<typeof makeBareMetal>;

function makeBareMetal(start: ActorStart<BareMetalConfig>) {
  const mem = new SharedMemory(start.sab, start.layout);
  const cfg = start.config;
  const vmm = mem.record('vmm', 0);
  const thread = mem.record(THREAD_REGION, cfg.slot);
  const fault = mem.record(FAULTS_REGION, cfg.slot);
  const writer = new BlockWriter(cfg.backend);
  const latency = new LatencyRecorder();
  let requests = 0;
  let cpuNs = 0;
  let wallNs = 0;

  return {
    ready: () => true,
    run(): void {
      publishThreadId(thread);
      const cpu0 = threadCpuNs();
      const t0 = now();
      resetRunStates(thread, RUN_STATE.GUEST, t0);
      try {
        while (Atomics.load(vmm.i32, VM_I.stop) === 0) {
          checkFault(fault, start.name, 'between writes');
          const begin = now();
          enterRunState(thread, RUN_STATE.BLOCKED, begin); // in the write: the kernel blocks the thread
          writer.write(writer.nextOffset());
          const end = now();
          enterRunState(thread, RUN_STATE.GUEST, end);
          latency.record(end - begin);
          requests++;
        }
      } finally {
        writer.close();
        enterRunState(thread, RUN_STATE.STOPPED, now());
        wallNs = now() - t0;
        cpuNs = threadCpuNs() - cpu0;
      }
    },
    snapshot(): BareMetalSnapshot {
      return { requests, io_latency: latency.encode(), thread_cpu_ns: cpuNs, heap_used_bytes: getHeapStatistics().used_heap_size, wall_ns: wallNs };
    },
  };
}

serveActor(makeBareMetal);
