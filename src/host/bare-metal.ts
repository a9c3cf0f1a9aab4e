import { now } from '../actors/clock.ts';
import { LatencyRecorder, type EncodedLatency } from '../actors/latency-recorder.ts';
import { RUN_STATE } from './thread-state.ts';
import { serveVmActor, type VmActorConfig } from './vm-actor.ts';
import type { BlockBackendConfig } from './vmm/block-backend.ts';
import { BlockWriter } from './vmm/block-writer.ts';

/**
 * dsync-io on bare metal: the guest's loop with no VM under it, as `dd
 * oflag=dsync` on the host. Each thread writes a block and waits for it in
 * the write itself (the kernel's own block-and-wake), then writes the next:
 * no exits, no I/O thread, no thread pool. The floor the seed compares with.
 */

export interface BareMetalConfig extends VmActorConfig {
  backend: BlockBackendConfig;
}

export interface BareMetalSnapshot {
  requests: number;
  io_latency: EncodedLatency;
  /** The device's own service time per write (for the synthetic device, its spin is in this thread's CPU). */
  service: EncodedLatency;
  service_spin_ns: number;
}

serveVmActor<BareMetalConfig, BareMetalSnapshot>(
  ({ config: cfg, thread, stopping, checkFault }) => {
    const writer = new BlockWriter(cfg.backend);
    const latency = new LatencyRecorder();
    const service = new LatencyRecorder();
    let serviceSpinNs = 0;
    let requests = 0;
    return {
      loop(): void {
        try {
          while (!stopping()) {
            checkFault('between writes');
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
        }
      },
      snapshot: () => ({ requests, io_latency: latency.encode(), service: service.encode(), service_spin_ns: serviceSpinNs }),
    };
  },
  { state: RUN_STATE.GUEST },
);
